import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.errors import RegistryError
from triage.registry import Registry
from triage.text import normalize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry():
    return Registry.from_csv(ROOT / "data" / "units.csv")


def named(registry, text):
    return [m.unit for m in registry.mentions(text)]


def test_registry_has_the_31_units_of_the_spec(registry):
    import csv

    spec_csv = ROOT.parent / "shared" / "spec" / "units.csv"
    if not spec_csv.exists():
        pytest.skip(f"the campaign's spec ({spec_csv}) is not beside the project")
    with open(spec_csv, encoding="utf-8") as f:
        spec = {r["id"] for r in csv.DictReader(f)}
    assert set(registry.ids) == spec and len(registry) == 31


@pytest.mark.parametrize(
    "text, unit",
    [
        ("我去东坝镇派出所办户口", "police"),  # vertical body in a township → its department
        ("东坝派出所的民警", "police"),
        ("西坝镇卫生院的医生", "health"),
        ("南湖中心校的老师", "edu"),
        ("北山供电所又停电", "power"),
        ("古城税务分局", "tax"),
        ("东坝市场监管所", "market"),
        ("西坝司法所", "justice"),
        ("东坝镇政府的干部", "dongba"),  # the township itself
        ("李家庄村村委会", "dongba"),  # a village → its township
        ("我是马家寨村的", "gucheng"),
        ("城关镇南街社区", "chengguan"),
        ("县社保局", "hrss"),
        ("社保窗口", "hrss"),
        ("城管队员", "urban"),
    ],
)
def test_routing_rules_for_named_units(registry, text, unit):
    assert named(registry, text)[0] == unit


def test_services_imply_units_but_are_not_mentions(registry):
    assert named(registry, "低保一直没批下来") == []
    services = {w: owners for _, _, w, owners in registry.services("低保一直没批下来, 医保报销也没到账")}
    assert services["低保"] == ("civil",) and services["医保报销"] == ("medins",)


def test_ascii_names_need_word_boundaries(registry):
    assert named(registry, "打了110没人管") == ["police"]
    assert named(registry, "罚了1100元") == []


def test_mentions_carry_offsets(registry):
    text = "昨天在东坝派出所"
    (m,) = registry.mentions(text)
    assert text[m.start : m.end] == m.surface == "东坝派出所" and m.kind == "body"


def test_malformed_registries_are_refused(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text("id,name\nx,X\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="lacks column"):
        Registry.from_csv(p)
    p.write_text("id,name,type,short_names,aliases,covers\na,A,township,甲,,\nb,B,department,甲,,\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="belongs to both"):
        Registry.from_csv(p)
    p.write_text("id,name,type,short_names,aliases,covers\na,A,county,,,\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="type"):
        Registry.from_csv(p)
    with pytest.raises(RegistryError, match="not found"):
        Registry.from_csv(tmp_path / "missing.csv")


def test_a_replaced_registry_needs_no_code_change(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text(
        "id,name,type,short_names,aliases,covers\n"
        "hill,青山镇人民政府,township,青山镇,青山,松林村\n"
        "cops,某县公安局,department,公安局,派出所,户口\n",
        encoding="utf-8",
    )
    r = Registry.from_csv(p)
    assert named(r, "松林村的路") == ["hill"]
    assert named(r, "青山派出所") == ["cops"]


_WORDS = st.sampled_from(["东坝", "东坝镇", "东坝派出所", "派出所", "低保", "医保", "医保报销", "报销", "110", "镇", "坝"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.one_of(_WORDS, st.text(st.sampled_from("东坝镇派出所低保医报销01 的"), max_size=4)), max_size=12))
def test_matches_are_the_automatons_leftmost_longest_with_offsets(registry, parts):
    text = "".join(parts)
    for matcher in (registry._names, registry._services):
        expected = [(start, matcher.words[i]) for i, start, _ in matcher._automaton.find_matches_as_indexes(text)]
        assert matcher.find(text) == expected
        assert [w for _, w in expected] == matcher.words_in(text)
    assert registry.service_owners(text) == [owners for _, _, _, owners in registry.services(text)]


def test_the_dfa_scanners_of_batches_find_what_the_default_ones_find():
    """build_lookup_tables swaps in DFA automata (batches, servers): every letter scans the same."""
    with open(ROOT / "data" / "train.csv", encoding="utf-8") as f:
        texts = [normalize(r["text"]) for r in csv.DictReader(f)]
    plain = Registry.from_csv(ROOT / "data" / "units.csv")
    fast = Registry.from_csv(ROOT / "data" / "units.csv")
    before = fast._names._automaton
    fast.build_lookup_tables()
    assert fast._names._automaton is not before
    for t in texts:
        assert fast.mentions(t) == plain.mentions(t) and fast.services(t) == plain.services(t), t
        assert fast.service_owners(t) == plain.service_owners(t)
