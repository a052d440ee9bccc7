"""GET /v1/categories, /v1/units, /v1/model: what the loaded model knows."""
from __future__ import annotations

from fastapi import APIRouter

from ..deps import ModelDep, model_ref
from ..schemas import CategoryOut, ModelOut, UnitOut

router = APIRouter(tags=["meta"])


@router.get("/categories", response_model=list[CategoryOut], summary="Work-style categories")
def categories(model: ModelDep) -> list[CategoryOut]:
    """The categories with their character and name (慢 工作拖拉); ``trained`` if the model predicts it."""
    if model.categories:
        infos = list(model.categories)
    else:  # a model trained without display data: the bundled names (the training module, loaded only here)
        from triage.train import load_categories

        infos = load_categories()
    trained = set(model.category_labels)
    return [CategoryOut(id=c.id, char=c.char, name=c.name, trained=c.id in trained) for c in infos]


@router.get("/units", response_model=list[UnitOut], summary="The unit registry")
def units(model: ModelDep) -> list[UnitOut]:
    """Every responsible unit of the registry the model was trained with."""
    trained = set(model.unit_labels)
    return [
        UnitOut(id=u.id, name=u.name, type=u.type, short_names=list(u.short_names), aliases=list(u.aliases),
                covers=list(u.covers), trained=u.id in trained)
        for u in model.registry.units
    ]


@router.get("/model", response_model=ModelOut, summary="The loaded model's manifest and metrics")
def model_info(model: ModelDep) -> ModelOut:
    ref = model_ref(model)
    return ModelOut(name=ref.name, sha256=ref.sha256, thresholds=dict(model.thresholds_), manifest=model.manifest)
