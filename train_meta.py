"""Meta-train the MGDD generator across source datasets.

    python train_meta.py --sources glyphs shapes digits --steps 2000 --out runs/meta
    accelerate launch train_meta.py ...            # CPU, one GPU or several
    python train_meta.py ... --resume               # continue from runs/meta/state.safetensors
    python train_meta.py --out runs/meta --bundle mgdd-convnet-28   # ship OUT/model inside the package

The trained model is written to OUT/model (safetensors + config.json + model card).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mgdd.configargs import HelpFormatter, add_dataclass_options, add_signature_options, dataclass_from_args
from mgdd.data import load_dataset
from mgdd.generator.model import GeneratorModel
from mgdd.generator.meta import BUNDLED_DIR, MetaGenerator
from mgdd.generator.meta_train import MetaTrainConfig, meta_train, resize_dataset


MODEL_OPTIONS = ("width", "code_dim", "blocks", "feature_width", "unroll", "clamp_output")
HELPS = {
    "pool_size": "random feature nets per source (0: fresh each step)",
    "pool_per_class": "cached real samples per class", "pool_refresh": "redraw the pools every N steps",
    "mean_weight": "weight of DM's class-mean term in the loss",
    "objective": "ridge: the one-pass set's ridge loss; refinement: the refinement's Platt loss after "
                 "--refine-steps of its Adam steps (needs --pool-size 0)",
    "refine_steps": "unrolled refinement steps of the refinement objective",
    "refine_lr": "the unrolled refinement's Adam lr", "max_seconds": "stop (and save) after this many seconds",
    "unroll": "guided generator steps per call (model config)",
    "clamp_output": "clamp generated pixels to the data range (model config)",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--sources", nargs="+", default=["glyphs", "shapes", "digits"])
    parser.add_argument("--size", type=int, default=28, help="resize every source to SIZE x SIZE")
    parser.add_argument("--out", default="runs/meta")
    # defaults from the one place that defines them: MetaTrainConfig and GeneratorModel
    add_dataclass_options(parser, MetaTrainConfig, skip=("sources",), helps=HELPS)
    add_signature_options(parser, GeneratorModel.__init__, MODEL_OPTIONS, helps=HELPS)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="force the CPU even if a GPU is present")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--bundle", metavar="NAME", default=None,
                        help="only copy OUT/model into the package as the bundled model NAME (and its card "
                             "into model_cards/NAME.md); no training")
    return parser.parse_args(argv)


def bundle(model_dir: Path, name: str) -> None:
    """Ship a trained model with the package: mgdd/pretrained/NAME and model_cards/NAME.md."""
    model = MetaGenerator.from_pretrained(model_dir)
    target = BUNDLED_DIR / name
    model.save_pretrained(target, model_card_kwargs={"repo_id": name})
    shutil.copyfile(target / "README.md", Path(__file__).resolve().parent / "model_cards" / f"{name}.md")
    print(f"bundled {model_dir} as {target}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bundle:
        bundle(Path(args.out) / "model", args.bundle)
        return
    sources = [resize_dataset(load_dataset(name, "train"), args.size) for name in args.sources]
    channels = {s.channels for s in sources}
    if len(channels) != 1:
        raise SystemExit(f"error: sources differ in channel count {sorted(channels)}")
    model = MetaGenerator(channels=channels.pop(), **{name: getattr(args, name) for name in MODEL_OPTIONS})
    model.provenance["train_image_size"] = args.size
    config = dataclass_from_args(MetaTrainConfig, args, sources=list(args.sources))
    meta_train(model, sources, args.out, config, resume=args.resume, cpu=args.cpu, progress=not args.no_progress)
    print(f"meta-trained model written to {args.out}/model")


if __name__ == "__main__":
    main()
