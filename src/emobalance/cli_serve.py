"""``emobalance serve``: the HTTP service of any saved model (uvicorn)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from .cli_options import MAX_THREADS, DefaultModelArg, ThresholdOption, ThresholdsOption
from .errors import EmobalanceError


def serve_cmd(
    model_dir: DefaultModelArg = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=0, max=65535)] = 8000,
    max_texts: Annotated[
        int,
        typer.Option("--max-texts", min=1, max=100_000, help="Most texts per /v1/predict request."),
    ] = 64,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1, max=10**7, help="Most characters per text.")
    ] = 5000,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-body-bytes",
            min=1,
            max=2**31,
            help="Most bytes per request body. Default: max-texts * (12 * max-chars + 64) + "
            "4096, so that any request within the text limits fits even \\u-escaped.",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", min=1, max=MAX_THREADS, help="torch threads per inference (see below)."
        ),
    ] = 1,
    threshold: ThresholdOption = None,
    thresholds: ThresholdsOption = None,
) -> None:
    """Serve the model over HTTP: /v1/predict, /v1/explain, /docs, /metrics and a web page at /.

    Requests run one at a time on the model; --threads 1 (the default) keeps single-text latency
    low and steady, since intra-op threads gain little on small batches and, on a busy machine,
    waiting for a descheduled sibling thread cost 10x in median and 30x in p99 latency.
    """
    import gc

    try:
        import torch
        import uvicorn

        from .serve import create_app, http_protocol
    except ImportError as exc:
        raise EmobalanceError(
            f"serving needs the `serve` extra (pip install 'emobalance[serve]'): {exc}"
        ) from None
    torch.set_num_threads(threads)
    _check_bindable(host, port)
    model_dir = model_dir or "default"  # the packaged model, a path like any other
    # The model loads here, so a bad directory fails before uvicorn binds the port.
    model: object = model_dir
    if threshold is not None or thresholds is not None:
        from .cli_model import ModelOptions
        from .models.registry import load_model

        model = ModelOptions(threshold=threshold, thresholds=thresholds).apply(
            load_model(model_dir)
        )
    application = create_app(
        model, max_texts=max_texts, max_chars=max_chars, max_body_bytes=max_body_bytes,
        model_name=Path(model_dir).name,
    )  # fmt: skip
    # Move the ~300k start-up objects (torch, pydantic, the model) out of the collector's
    # reach: otherwise each full collection walks them all, a 150-500 ms pause every ~15 s
    # at 100 req/s that alone broke the p99 latency bar.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        http=http_protocol(),  # the HTTP parser's 400s in the service's JSON format
    )


def _check_bindable(host: str, port: int) -> None:
    """One-line error for a port in use or a host that does not resolve (uvicorn would log
    and exit 3 after the model loaded)."""

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EmobalanceError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            raise EmobalanceError(f"{host}:{port}: cannot listen ({exc.strerror})") from None
