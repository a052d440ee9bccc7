import pandas as pd
import pytest

from triage.errors import DataError
from triage.io import detect_encoding, file_format, read_table

ROWS = pd.DataFrame({"text": ["东坝派出所办户口等了一上午", "医保报销四个月没到账"], "category": ["lax", "slow"]})


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030")])
def test_csv_encodings_are_detected(tmp_path, encoding, expected):
    p = tmp_path / "x.csv"
    ROWS.to_csv(p, index=False, encoding=encoding)
    assert detect_encoding(p) == expected
    assert read_table(p, ["text"]).equals(ROWS)


def test_xlsx_and_jsonl(tmp_path):
    ROWS.to_excel(tmp_path / "x.xlsx", index=False)
    ROWS.to_json(tmp_path / "x.jsonl", orient="records", lines=True, force_ascii=False)
    assert read_table(tmp_path / "x.xlsx", ["text"]).equals(ROWS)
    assert read_table(tmp_path / "x.jsonl", ["text"])["text"].tolist() == ROWS["text"].tolist()


def test_missing_column_names_the_columns(tmp_path):
    p = tmp_path / "x.csv"
    ROWS.to_csv(p, index=False)
    with pytest.raises(DataError, match="no column\\(s\\) 'body'.*'text', 'category'"):
        read_table(p, ["body"])


def test_unknown_extension_and_undecodable_bytes(tmp_path):
    with pytest.raises(DataError, match="Cannot tell the format"):
        file_format("x.doc")
    p = tmp_path / "bad.csv"
    p.write_bytes(b"text\n\xff\xfe\xfa\x80\x81\n")
    with pytest.raises(DataError, match="neither UTF-8 nor GBK"):
        read_table(p)
