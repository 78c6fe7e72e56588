"""Zero-shot tagging: ConSE (Norouzi et al., 2014), ranked with how people tag photos.

visual:  an ImageNet classifier (EfficientNet-Lite0) gives class probabilities p. Two views of them:
         ConSE: the top-T classes weight the classes' text embeddings (each class with its WordNet
         ancestors, as HierSE embeds it; each hashtag by its plain words); the mean embedding's cosine
         s_t with each tag, less part of the tag's hubness (CSLS), gives softmax(s / tau);
         names: p reaches the tags that name its classes by their WordNet words (classmap.py).
         q = (1 - a) * ConSE + a * names, normalised, is what the photo shows, over the tags;
         the colours measured from the pixels (colours.py) decide the colour tags (#yellow,
         #blackandwhite), the COCO things a detector sees (objects.py: #horse, #giraffe, #kite) then move a
         share of q onto the tags that name them, and a face seen (people.py) onto #people, #portrait, ...
ranking: hashtagger.rank blends q with tag popularity and co-occurrence (HARRISON's, or a user's
         own with --profile), keeps reach tags (#love) after content and near-duplicates apart.
prior_weight = 0 is plain ConSE. HierSE differs only in the label embeddings (see hierse.py).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hashtagger.errors import InputError, MissingDependencyError
from hashtagger.image.preprocess import EFFICIENTNET_LITE, Preprocessing
from hashtagger.models.base import Tagger
from hashtagger.models.classmap import CLASS_FAMILIES
from hashtagger.models.colours import ColourTags
from hashtagger.models.labels import load_npz, unit_rows
from hashtagger.models.objects import ObjectTags
from hashtagger.models.people import PeopleTags
from hashtagger.models.steps import apply_seen
from hashtagger.rank import Ranked, Ranker, Ranking, SocialPrior

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Blend:
    """ConSE and ranking parameters; see scripts/tune_blend.py for how the defaults were chosen."""

    top_classes: int = 10  # T in ConSE
    tau: float = 0.25  # softmax temperature on cosine similarities
    hub_weight: float = 0.5  # share of each label's hubness taken off its cosine (CSLS-style)
    names_share: float = 0.5  # a: share of the class-name view in q
    base_rate: float = 2.0  # the class-name view less this many times a tag's share over all classes
    prior_weight: float = 0.35  # w: share of the social part (0.25 until the class names reached places)
    ranking: Ranking = Ranking()  # the rules after the blend; its prior_weight is this Blend's

    def rules(self) -> Ranking:
        """The ranking parameters with this blend's prior weight."""
        return replace(self.ranking, prior_weight=self.prior_weight)


BLEND = Blend()


class ZeroShotTagger(Tagger):
    """ImageNet classifier + label embeddings + tag statistics; no training needed."""

    #: fp32 on a CPU, as its shipped graph (the default runtime) runs and is parity-checked: bf16 there was
    #: no faster than that graph (74.6 against 71.6 photos/s) and changed the top 5 of 5 in 30 photos.
    cpu_auto_precision = "fp32"

    def __init__(
        self,
        classifier: torch.nn.Module,
        class_embeddings: np.ndarray,
        vocabulary: list[str],
        label_embeddings: np.ndarray,
        blend: Blend = BLEND,
        preprocessing: Preprocessing = EFFICIENTNET_LITE,
        kind: str = "zeroshot",
        social: SocialPrior | None = None,
        names: np.ndarray | None = None,
        people: PeopleTags | None = None,
        objects: ObjectTags | None = None,
        colours: ColourTags | None = None,
        families: np.ndarray | None = None,
    ) -> None:
        import torch

        from hashtagger.models.classmap import hubness

        self.kind = kind
        self.name = kind
        self.vocabulary = vocabulary
        self.preprocessing = preprocessing
        self._blend = blend
        self.thresholds = None
        # scores form a distribution over the vocabulary: a tag counts as predicted at twice the uniform share
        self.default_threshold = 2.0 / len(vocabulary)
        self.classifier = classifier.eval().to(memory_format=torch.channels_last)
        self.device = "cpu"
        self.precision = "fp32"
        self._class_emb = torch.from_numpy(unit_rows(class_embeddings))
        self._label_emb = torch.from_numpy(unit_rows(label_embeddings))
        self._hub = torch.from_numpy(hubness(label_embeddings, class_embeddings))
        # (classes, V) class -> tag map and its base rate; None: ConSE alone (a model without names)
        self._names = None if names is None else torch.from_numpy(np.asarray(names, dtype=np.float32))
        self._names_base = None if names is None else self._names.mean(dim=0)
        # (classes, families) class families (classmap.family_classes) the steps read; None: no shares
        self._families = (
            None if families is None else torch.from_numpy(np.asarray(families, dtype=np.float32))
        )
        # the steps after the graph (steps.seen_steps); None where the vocabulary lacks their tags
        steps = {"colours": colours, "objects": objects, "people": people}
        self.steps: dict[str, Any] = {k: s if s is not None and s.active else None for k, s in steps.items()}
        self.social = social or SocialPrior.harrison(vocabulary)
        self.ranker = Ranker(blend.rules(), self.social, label_embeddings)

    @property
    def blend(self) -> Blend:
        return self._blend

    @blend.setter
    def blend(self, value: Blend) -> None:
        """A new blend (e.g. another prior weight for one request) takes effect in the ranking at once."""
        self._blend = value
        self.ranker = self.ranker.with_social(self.social, value.rules())

    @property
    def prior_weight(self) -> float | None:
        return self.blend.prior_weight

    def set_prior_weight(self, weight: float) -> None:
        self.blend = replace(self.blend, prior_weight=float(weight))

    def with_social(self, social: SocialPrior) -> ZeroShotTagger:
        """Rank with other tag statistics (a user's profile); the visual side is unchanged."""
        self.social = social
        self.ranker = self.ranker.with_social(social, self._blend.rules())
        return self

    def export_head(self) -> tuple[Any, Any, tuple[str, ...]]:
        """The classifier, then ConSE and the blend: `scores` for any tool, `content` for hashtagger's ranking
        and `families` for its objects and people steps (the colours, objects and people steps and the ranking
        rules run after the graph)."""
        from hashtagger.models.exported import CONTENT, FAMILIES, OUTPUT

        if self._families is None:
            return self.classifier, lambda logits: self.export_outputs(self.conse(logits)), (OUTPUT, CONTENT)
        return self.classifier, self._export_with_families, (OUTPUT, CONTENT, FAMILIES)

    def _export_with_families(self, logits: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (*self.export_outputs(self.conse(logits)), self.family_shares(logits))  # type: ignore[return-value]

    def ranking_metadata(self) -> dict[str, Any]:
        """The ranking rules, label embeddings and the colours, objects and people steps, so that an export's
        `content` output is ranked exactly as here (colours, things and people seen, reach tags after content,
        diversity, the parts of --why)."""
        from dataclasses import asdict

        from hashtagger.models.exported import encode_array

        return {
            "ranking": asdict(self.ranker.ranking),
            "label_embeddings": encode_array(self._label_emb.cpu().numpy()),
            **{key: step.to_dict() for key, step in self.steps.items() if step is not None},
            **({"families": list(CLASS_FAMILIES)} if self._families is not None else {}),
        }

    def to(self, device: str) -> ZeroShotTagger:
        self.device = device
        self.classifier.to(device)
        for name in ("_class_emb", "_label_emb", "_hub", "_names", "_names_base", "_families"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))
        return self

    def set_precision(self, precision: str) -> None:
        self.precision = precision

    def visual_scores(self, batch: torch.Tensor) -> torch.Tensor:
        """q: what each photo shows, (N, V), each row a distribution over the vocabulary."""
        return self.content(batch)[0]

    def content(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """q, and the classifier's (N, families) shares (None for a model without families): what the graph
        of an export outputs as `content` and `families`."""
        import torch

        from hashtagger.runtime import autocast, forward

        x = self.preprocessing.normalize(batch.to(self.device)).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(self.device, self.precision):
            logits = forward(self.classifier, x, self.device)
        return self.conse(logits), self.family_shares(logits)

    def family_shares(self, logits: torch.Tensor) -> torch.Tensor | None:
        """(N, families) the classifier's probability on each class family (classmap.CLASS_FAMILIES: the
        steps read it as `families`); traced."""
        if self._families is None:
            return None
        return logits.float().softmax(dim=-1) @ self._families

    def conse(self, logits: torch.Tensor) -> torch.Tensor:
        """ImageNet logits -> q, the content distribution (module docstring); plain tensor ops, so the
        ONNX export traces this code."""
        import torch

        b = self.blend
        probs = logits.float().softmax(dim=-1)
        top_p, top_i = probs.topk(b.top_classes, dim=-1)
        mixed = (top_p.unsqueeze(-1) * self._class_emb[top_i]).sum(1)
        mixed = torch.nn.functional.normalize(mixed, dim=-1)
        sims = mixed @ self._label_emb.T - b.hub_weight * self._hub
        q = (sims / b.tau).softmax(dim=-1)
        if self._names is not None and b.names_share > 0:
            named = (probs @ self._names - b.base_rate * self._names_base).clamp(min=0.0)
            q = (1.0 - b.names_share) * q + b.names_share * named
            q = q / q.sum(dim=-1, keepdim=True)
        return q

    def tag(self, batch: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.score_explained(batch.cpu().numpy())[0])

    def score_explained(self, batch: np.ndarray) -> tuple[np.ndarray, Ranked]:
        """The graph's part (what an export computes), then the colours, things and people seen, then the
        ranking."""
        import torch

        q, shares = self.content(torch.from_numpy(batch))
        seen = None if shares is None else shares.float().cpu().numpy()
        families = None if seen is None else dict(zip(CLASS_FAMILIES, seen.T, strict=True))
        content = q.float().cpu().numpy()
        ranked = self.ranker.rank(*apply_seen(content, batch, families=families, **self.steps))
        return ranked.score, ranked

    def blend_scores(self, q: torch.Tensor) -> torch.Tensor:
        """The plain blend, visual + co-occurrence + popularity, in torch ops: what an export computes.

        The ranking rules (reach tags after content, diversity) run in numpy after it, in `tag`.
        """
        return self._blend_of(q.float())

    def _blend_of(self, q: torch.Tensor) -> torch.Tensor:
        import torch

        r = self.blend.rules()
        if r.prior_weight <= 0:
            return q
        prior = torch.from_numpy(self.social.prior).to(q.device)
        cond = torch.from_numpy(self.social.cond).to(q.device)
        social = r.cooc_share * (q @ cond) + (1.0 - r.cooc_share) * prior
        return (1.0 - r.prior_weight) * q + r.prior_weight * social

    def export_outputs(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What an export computes: the plain blend (`scores`, for any tool that reads the file) and the
        content distribution q (`content`, which hashtagger ranks with these rules after the graph)."""
        return self._blend_of(q.float()), q.float()

    def rank_content(self, q: torch.Tensor) -> Ranked:
        """What the photo shows (q) -> ranked with the tag statistics."""
        return self.ranker.rank(q.float().cpu().numpy())

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "prior_weight": self.blend.prior_weight, "runtime": "PyTorch"}


def load_conse(
    *, vocabulary: list[str] | None = None, prior_weight: float | None = None, runtime: str = "auto"
) -> Tagger:
    """The registry's `zeroshot`: ConSE, classes with their WordNet ancestors, hashtags by their words."""
    return open_builtin("zeroshot", vocabulary, prior_weight, runtime)


def load_hierse(
    *, vocabulary: list[str] | None = None, prior_weight: float | None = None, runtime: str = "auto"
) -> Tagger:
    """The registry's `hierse`: label embeddings summed over the WordNet hierarchy."""
    return open_builtin("hierse", vocabulary, prior_weight, runtime)


#: The built-in models whose graph ships in the package (scripts/build_builtin_models.py), so that they
#: run on ONNX Runtime without PyTorch.
SHIPPED_GRAPHS = {"zeroshot": "zeroshot.onnx", "hierse": "hierse.onnx"}
TORCH_EXTRA = "pip install 'hashtagger[torch]'"


def shipped_graph(name: str) -> Path | None:
    """The package's ONNX graph of a built-in model, if it ships one."""
    from importlib import resources

    file = SHIPPED_GRAPHS.get(name)
    if file is None:
        return None
    path = Path(str(resources.files("hashtagger.resources").joinpath(file)))
    return path if path.is_file() else None


def open_builtin(name: str, vocabulary: list[str] | None, prior_weight: float | None, runtime: str) -> Tagger:
    """A built-in model on the runtime asked for: its shipped graph on ONNX Runtime (or OpenVINO) unless
    PyTorch is asked for or needed (a custom vocabulary is embedded by a PyTorch text model)."""
    if prior_weight is not None and not 0.0 <= prior_weight <= 1.0:
        raise InputError(f"--prior-weight {prior_weight}: must be between 0 and 1")
    graph = shipped_graph(name) if vocabulary is None else None
    if runtime != "torch" and graph is not None:
        from hashtagger.models.exported import load_exported

        tagger = load_exported(graph, runtime="openvino" if runtime == "openvino" else "onnx")
        tagger.kind = tagger.name = name
        if prior_weight is not None:
            tagger.set_prior_weight(prior_weight)
        return tagger
    if runtime in ("onnx", "openvino"):
        why = "a custom --vocab is embedded by PyTorch" if vocabulary else f"{name} ships no graph for it"
        raise InputError(f"--runtime {runtime}: {why}; use --runtime torch ({TORCH_EXTRA})")
    if importlib.util.find_spec("torch") is None:
        why = "a custom --vocab" if vocabulary else f"--model {name} on PyTorch"
        raise MissingDependencyError(f"{why} needs PyTorch: {TORCH_EXTRA}")
    return load_builtin(name, vocabulary=vocabulary, prior_weight=prior_weight)


#: The built-in models' ImageNet classifier and its input: Lite0 at 224 px. Lite2 at 260 px measured
#: clothing-small mAP +4 to +6 and MSRC-v2 about the same, at 1.4x Lite0's forward; with the object detector
#: (objects.py) and the face detector it took the model to 2.0-3.0x the former default's per-photo cost (the
#: budget is 2x), while the detector gave more (MSRC-v2 names an object first 67.7% -> 78.5%): Lite0 it is.
BACKBONE = "lite0"
BACKBONE_PREPROCESSING = replace(EFFICIENTNET_LITE, size=224)

#: Share of the WordNet-ancestor embedding in each ImageNet class's embedding (the rest: its plain name);
#: 1.0 measured MSRC-v2 mAP 72.8 but clothing-small P@1 18.2, 0.85 gives 71.4 and 25.2 (plain: 62.2, 24.6).
HIERARCHY_SHARE = 0.85


def class_embeddings(conse: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """ImageNet classes as `zeroshot` embeds them: mostly with their WordNet ancestors (HierSE's class side:
    a 'tabby' is also a cat, an animal), partly by their plain name. Hashtags keep their plain words, because
    WordNet's first sense of a hashtag is often wrong (fashion -> manner)."""
    conse = conse if conse is not None else load_npz("conse_embeddings.npz")  # a caller may have it read
    hier = unit_rows(load_npz("hierse_embeddings.npz")["class_embeddings"])
    plain = unit_rows(conse["class_embeddings"])
    return unit_rows(HIERARCHY_SHARE * hier + (1.0 - HIERARCHY_SHARE) * plain)


def load_builtin(
    name: str,
    *,
    vocabulary: list[str] | None = None,
    prior_weight: float | None = None,
) -> ZeroShotTagger:
    """The shipped zero-shot models ('zeroshot' = ConSE, 'hierse' = HierSE) on PyTorch, optionally on your
    vocabulary; reached through open_builtin, which checks the prior weight."""
    from hashtagger.models.backbones import efficientnet_lite_imagenet
    from hashtagger.models.classmap import class_map, family_classes

    if prior_weight is None and vocabulary is not None:
        prior_weight = 0.0  # HARRISON's statistics are not your vocabulary's: content alone, unless asked
    blend = BLEND if prior_weight is None else replace(BLEND, prior_weight=float(prior_weight))
    data = load_npz("conse_embeddings.npz")
    if name == "hierse":
        from hashtagger.models.hierse import hierse_embeddings

        class_emb, vocabulary, label_emb = hierse_embeddings(vocabulary)
    else:
        class_emb = class_embeddings(data)
        if vocabulary is None:
            vocabulary = [str(t) for t in data["vocabulary"]]
            label_emb = data["vocab_embeddings"]
        else:
            from hashtagger.models.textembed import embed_vocabulary_cached

            vocabulary = list(vocabulary)
            label_emb = embed_vocabulary_cached(vocabulary)
    names = class_map(vocabulary, data)
    classifier = efficientnet_lite_imagenet(BACKBONE)
    return ZeroShotTagger(
        classifier, class_emb, vocabulary, label_emb, blend, BACKBONE_PREPROCESSING, kind=name, names=names,
        people=PeopleTags(vocabulary), objects=ObjectTags(vocabulary), colours=ColourTags(vocabulary),
        families=family_classes(data),
    )  # fmt: skip
