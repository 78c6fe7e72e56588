"""Ray Data integration: `from hashtagger.ray import HashtagPredictor` (`pip install 'hashtagger[ray]'`).

    import ray
    from hashtagger.ray import HashtagPredictor

    ds = ray.data.read_binary_files("s3://bucket/photos/", include_paths=True)
    tags = ds.map_batches(HashtagPredictor, fn_constructor_kwargs={"model": "zeroshot", "top_k": 5},
                          concurrency=8, batch_size=32)
    tags.drop_columns(["scores"]).write_json("s3://bucket/tags/")

The implementation lives in hashtagger.predict.batch_predictor and imports no Ray itself; this module
only gives it the name users look for. (Inside the package, `import ray` still means the Ray package:
imports are absolute.)
"""

from __future__ import annotations

from hashtagger.predict.batch_predictor import COLUMNS, HashtagPredictor

__all__ = ["COLUMNS", "HashtagPredictor"]
