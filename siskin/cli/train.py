"""`siskin train snia|mulens|snn`: write a score module's model artefact (exported from the peer, trained)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from siskin.errors import SiskinError


def cmd_train_snia(args: argparse.Namespace) -> int:
    from siskin.science import train

    if args.from_peer:
        if not args.from_peer.is_file():
            raise SiskinError(f"{args.from_peer} is not a file")
        card = train.export_snia(args.from_peer, args.out, source_version=args.peer_version)
    else:
        trained = train.train_snia(seed=args.seed, n_objects=args.objects, n_trees=args.trees)
        card = train.write_trained_snia(
            args.out, trained, seed=args.seed, objects=args.objects, trees=args.trees
        )
    print(json.dumps({"out": str(args.out), **card}, sort_keys=True))
    return 0


def cmd_train_mulens(args: argparse.Namespace) -> int:
    from siskin.science import train

    folder: Path = args.from_peer
    if not (folder / "rf.sav").is_file():
        raise SiskinError(f"{folder} must hold the peer's rf.sav")
    card = train.export_mulens(folder, args.out, source_version=args.peer_version)
    print(json.dumps({"out": str(args.out), **card}, sort_keys=True))
    return 0


def cmd_train_snn(args: argparse.Namespace) -> int:
    from siskin.science.snn.models import export_peer

    card = export_peer(args.from_peer, args.out, source_version=args.peer_version)
    print(json.dumps({"out": str(args.out), **card}, sort_keys=True))
    return 0


def add_commands(sub: Any) -> None:
    """Register `siskin train` and its subcommands."""
    p = sub.add_parser("train", help="write a score module's model artefact (exported or trained)")
    kinds = p.add_subparsers(dest="model", required=True)
    s = kinds.add_parser(
        "snia",
        help="early SN Ia forest: export the peer's (--from-peer) or train one on synthetic light curves",
    )
    s.add_argument("--out", type=Path, required=True, help="artefact folder to write")
    s.add_argument("--from-peer", type=Path, help="the peer's default-model_sigmoid.obj (fink-science wheel)")
    s.add_argument("--peer-version", default="7.4.0", help="fink-science version the pickle came from")
    s.add_argument("--seed", type=int, default=42, help="training seed (same seed, same artefact)")
    s.add_argument("--objects", type=int, default=4000, help="synthetic light curves to draw")
    s.add_argument("--trees", type=int, default=200, help="trees in the forest")
    s.set_defaults(func=cmd_train_snia)
    m = kinds.add_parser("mulens", help="microlensing forest: export the peer's (--from-peer)")
    m.add_argument("--out", type=Path, required=True, help="artefact folder to write")
    m.add_argument(
        "--from-peer",
        type=Path,
        required=True,
        help="folder with the peer's rf.sav (fink-science data/models)",
    )
    m.add_argument("--peer-version", default="7.4.0", help="fink-science version the pickles came from")
    m.set_defaults(func=cmd_train_mulens)
    n = kinds.add_parser("snn", help="SuperNNova LSTMs: export the peer's (--from-peer), torch not needed")
    n.add_argument("--out", type=Path, required=True, help="artefact folder to write")
    n.add_argument(
        "--from-peer",
        type=Path,
        required=True,
        help="the peer's snn_models folder (fink-science data/models/snn_models)",
    )
    n.add_argument("--peer-version", default="7.4.0", help="fink-science version the models came from")
    n.set_defaults(func=cmd_train_snn)
