#!/bin/bash
# Build mgdd/releases/fashion-mnist/ (the collection committed in the repository) from the sets the benchmarks
# saved under runs/sets/fashion-mnist/ and the accuracies in their results files. Run from the repository root:
#     python benchmarks/coreset_baselines.py --sets-only --threads 1      # the coreset sets, if not saved yet
#     (cd benchmarks && python mgdd_release_sets.py)   # MGDD's sets: the pipeline's largest time-to-accuracy rung
#     bash benchmarks/release_fashion_mnist.sh [--push ORG]
# DC, DSA, DM and MTT's sets at IPC 1 and 10 run the iterations their largest time-to-accuracy rung reached
# (time_to_accuracy.md), with their defaults, e.g. (MTT's IPC 10 set comes from the SeqMatch benchmark):
#     (cd benchmarks && python coreset_baselines.py --name baselines_fashion_mnist --methods dm --ipc 10 \
#         --iterations 166 --threads 1)
#     IPC 1: dc 27, dsa 37, dm 63, mtt 203; IPC 10: dc 4, dsa 4, dm 166; IPC 50 (no time-to-accuracy run): dm 70, about the
#     same 20 minutes (17 s an iteration here). MTT with the time-to-accuracy run's buffer
#     (3 experts, 6 epochs, 1000 images per class): (cd benchmarks && mgdd experts --dataset fashion-mnist
#         --out runs/experts-tta --experts 3 --epochs 6 --per-class 1000), then --experts runs/experts-tta
#     (the SeqMatch benchmark's buffer, 2 experts on all 60000 images, gave 65.56 at IPC 1 against 74.24)
set -euo pipefail
# runs/ is git-ignored, so a fresh machine has none of the sets released before: take them back from the
# committed collection (a set saved again by its benchmark since replaces its copy there)
for released in mgdd/releases/fashion-mnist/*/ipc*/; do
  saved="runs/sets/fashion-mnist/${released#mgdd/releases/fashion-mnist/}"
  if [ ! -e "$saved" ]; then
    mkdir -p "$saved"
    cp "$released"synthetic.safetensors "$released"metadata.json "$released"grid.png "$saved"
  fi
done
missing=()
for ipc in 1 10 50; do
  for method in dc dsa dm mtt; do
    if [ -e "runs/sets/fashion-mnist/$method/ipc$ipc" ]; then continue; fi
    if [ "$method/$ipc" = mtt/1 ]; then missing+=(--missing "mtt/ipc1=not distilled at its time-to-accuracy budget with that run's expert buffer yet (about 30 CPU minutes)")
    elif [ "$ipc" = 50 ] && [ "$method" != dm ]; then missing+=(--missing "$method/ipc$ipc=not distilled at IPC 50 yet: several CPU hours (the IPC 10 set's 4 iterations took 1583 s for DC, 1619 s for DSA, and an IPC 50 iteration matches 50 outer rounds instead of 10)")
    else missing+=(--missing "$method/ipc$ipc=not distilled at its budget yet (command and iterations in benchmarks/release_fashion_mnist.sh)"); fi
  done
  [ -e "runs/sets/fashion-mnist/frepo/ipc$ipc" ] || missing+=(--missing "frepo/ipc$ipc=not distilled with its defaults at IPC $ipc yet (500 iterations took 801 s at IPC 1 and 1278 s at IPC 10 here; the ridge head's kernel grows with the set): (cd benchmarks && python coreset_baselines.py --name baselines_fashion_mnist --methods frepo --ipc $ipc --iterations 500 --threads 1)")
  if [ "$ipc" = 1 ]; then
    missing+=(--missing "seqmatch/ipc1=not in its benchmark: SeqMatch splits each class's images into subsets, and IPC 1 has one")
    for method in sre2l dwa; do
      missing+=(--missing "$method/ipc1=not in its benchmark, which distils IPC 10 and 50")
    done
  else
    if [ ! -e "runs/sets/fashion-mnist/seqmatch/ipc$ipc" ]; then
      missing+=(--missing "seqmatch/ipc$ipc=its benchmark runs one subset per session (about 7 CPU hours in all; resumes from benchmarks/checkpoints/)")
    fi
    for method in sre2l dwa; do
      if [ ! -e "runs/sets/fashion-mnist/$method/ipc$ipc" ]; then
        missing+=(--missing "$method/ipc$ipc=its benchmark runs across sessions (resumes from benchmarks/checkpoints/)")
      fi
    done
  fi
  if [ ! -e "runs/sets/fashion-mnist/mgdd/ipc$ipc" ]; then
    missing+=(--missing "mgdd/ipc$ipc=its time-to-accuracy set is not evaluated with 3 models yet: (cd benchmarks && python time_to_accuracy.py --ipc $ipc --phase evaluate --methods mgdd --models 3 --epochs 300 --threads 1 && python mgdd_release_sets.py)")
  fi
done
# Later files win for a set's accuracy (within one file, the largest budget): MGDD's sets from mgdd_release.json
# (the pipeline's sets from the time-to-accuracy run), after mgdd_fashion_mnist's and the older time-to-accuracy entries; DC/DSA/DM/MTT's from the fixed-budget
# runs and MTT's IPC 10 set from the SeqMatch benchmark, after the time-to-accuracy rungs; random real from the
# coreset benchmark (3 models), last.
# `mgdd release` refuses an accuracy whose iteration count differs from its set's.
extra=()
for name in baselines_fashion_mnist seqmatch_fashion_mnist sre2l_dwa_fashion_mnist; do
  if [ -e "benchmarks/results/$name.json" ]; then extra+=("benchmarks/results/$name.json"); fi
done
# The collection ships inside the package (mgdd/releases/, package data: `load_synthetic("fashion-mnist", ...)`
# finds it offline). The model repositories are only built to be pushed (their weights are mgdd/pretrained/'s).
models=()
if [[ " $* " == *" --push "* ]]; then models=(--model mgdd-convnet-28 --teacher teacher-convnetbn-fashion-mnist); fi
mgdd release --dataset fashion-mnist --results benchmarks/results/mgdd_fashion_mnist.json \
  benchmarks/results/time_to_accuracy.json benchmarks/results/mgdd_release.json "${extra[@]}" benchmarks/results/coreset_fashion_mnist.json \
  "${missing[@]}" "${models[@]}" --out mgdd/releases "$@"
