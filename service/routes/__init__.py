"""One router per area: classify, meta (categories/units/model), upload, health."""
