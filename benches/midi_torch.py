#!/usr/bin/env python3
"""PyTorch reference run of gruwave's symbolic mode: the `midi-small` GRU-LM on MIDI files.

Trains exactly what gruwave trains (../shared/MODEL_SPEC.md, ../shared/MIDI_TOKENS.md) so that
the two runs can be compared in validation bits per event:

- model midi-small: embedding(388, 64) -> nn.GRU(64, 256, 1, batch_first) -> Linear(256, 388);
  B = 32, T = 128; torch.optim.Adam(lr 2e-3, betas (0.9, 0.999), eps 1e-8), preceded by
  clip_grad_norm_(1.0); float32; stateful truncated BPTT (hidden state carried across windows,
  detached, zeroed for rows whose window starts a file piece or wraps).
- data: every .mid/.midi under --train and --valid, sorted by path, tokenized with
  tests/fixtures/midi_tokens.py (the Python reference of codec perf388); each file's
  tokens are preceded by the start marker TS100 (id 355) (MIDI_TOKENS.md S1); the training files
  are concatenated and cut into B streams by the rule of gruwave's `data::Streams` (ported below:
  equal spans, windows of T + 1 tokens overlapping by one, never crossing a file, jump to the next
  file piece with a reset, wrap with a reset; pieces shorter than T + 1 skipped).
- augmentation --transpose N: each time a stream enters a file piece (a window with reset), a
  shift k is drawn uniformly among the shifts in [-N, N] that keep every pitch of that whole file
  in 0..127, and added to ids 0..255 of every window of that piece (the start marker and other
  ids unchanged). Validation is never transposed.
- evaluation (S2): each validation file from a zero state, input TS100 + tokens[:-1], targets =
  tokens; bits per event over all tokens of all files, and bits per second of music (total bits /
  total seconds, seconds = sum of TIME_SHIFT steps / 100).

Usage (run from the repository root):

    # write PyTorch's default init for midi-small (to start gruwave from it: train --init FILE)
    python3 benches/midi_torch.py --write-init runs/init_seed0.safetensors --seed 0
    # train from it
    python3 benches/midi_torch.py --train DIR --valid DIR --init runs/init_seed0.safetensors \\
        --steps 800 --eval-every 100 --transpose 5 --csv runs/torch_t5.csv

Output: one line per evaluation (step, train bits/event = mean loss of the steps since the
previous evaluation, valid bits/event, valid bits/second, elapsed seconds), the same rows in
--csv, and a last line `final valid bits/event X`.

Checkpoints (--init, --write-init) are plain safetensors files of F32 tensors named as the
state_dict of MODEL_SPEC's GruLM, read and written here without the safetensors package. The
written header is that of a gruwave checkpoint (keys sorted; metadata format=gruwave-grulm-v1,
codec=perf388, steps_per_second=100, V, E, H, L; no sample_rate, which MIDI_TOKENS.md says
means nothing for perf388).

Installation notes (Linux, CPU only):
- PyPI's torch wheels for Linux x86_64 are CUDA builds: `pip install torch --no-deps` installs,
  but `import torch` then fails (libcudart.so / libcublasLt not found) unless the multi-GB
  nvidia-* wheels are installed as well. So we do not use them.
- What works: Debian's CPU build, for the system Python (/usr/bin/python3, 3.11 on bookworm):
      apt-get install -y --no-install-recommends python3-torch python3-mido python3-numpy \
          libopenblas0-openmp
  (torch 1.13.1 on bookworm; everything used here behaves the same in torch 2.x) and run the
  script with /usr/bin/python3. A pyenv or venv `python3` earlier in PATH will not see it.
  libopenblas0-openmp matters: without it libblas.so.3 is the reference BLAS and a step is
  several times slower (`update-alternatives --display libblas.so.3-x86_64-linux-gnu`).
- Needs only torch, numpy and mido (midi_tokens.py). Threads are set to 2 (--threads).
"""
import argparse
import csv
import json
import math
import os
import random
import struct
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    sys.exit(f"cannot import torch ({e}); see the installation notes at the top of {__file__}")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import midi_tokens  # noqa: E402  (the reference codec, tests/fixtures/midi_tokens.py)

CODEC = "perf388"
START = 355            # TS100, the start marker of every file (MIDI_TOKENS.md S1, S2)
TS_FIRST, TS_LAST = 256, 355
CONFIG = dict(V=388, E=64, H=256, L=1, B=32, T=128)   # midi-small
NAMES = lambda L: (["embedding.weight"]
                   + [f"gru.{k}_l{l}" for l in range(L)
                      for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                   + ["head.weight", "head.bias"])


class GruLM(nn.Module):
    """MODEL_SPEC.md's module, unchanged."""

    def __init__(self, V, E, H, L):
        super().__init__()
        self.embedding = nn.Embedding(V, E)
        self.gru = nn.GRU(E, H, num_layers=L, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, tokens, h0=None):
        out, hn = self.gru(self.embedding(tokens), h0)
        return self.head(out), hn


# ---------------------------------------------------------------- safetensors (F32 only)

def save_safetensors(path, tensors, meta):
    """Writes a safetensors file with the header keys sorted, like gruwave's save_model."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def load_safetensors(path):
    """-> ({name: float32 tensor}, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    out = {}
    for name, info in header.items():
        s, e = info["data_offsets"]
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        a = np.frombuffer(data[8 + n + s:8 + n + e], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(a.copy())
    return out, meta


def model_meta(c):
    return {"format": "gruwave-grulm-v1", "codec": CODEC, "steps_per_second": "100",
            "V": c["V"], "E": c["E"], "H": c["H"], "L": c["L"]}


def load_init(model, path, c):
    tensors, meta = load_safetensors(path)
    if meta.get("codec", CODEC) != CODEC:
        sys.exit(f"{path}: codec {meta['codec']!r}, expected {CODEC}")
    sd = model.state_dict()
    missing = [k for k in sd if k not in tensors]
    if missing:
        sys.exit(f"{path}: missing tensors {missing}")
    for k, v in sd.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            sys.exit(f"{path}: {k} has shape {list(tensors[k].shape)}, the model needs {list(v.shape)}")
    model.load_state_dict({k: tensors[k] for k in sd})


# ---------------------------------------------------------------- data

def midi_files(folder):
    """Every .mid/.midi under folder (recursively), sorted by path components like Rust's
    PathBuf ordering (gruwave's collect_files)."""
    found = []
    for root, _, files in os.walk(folder, followlinks=True):
        for f in files:
            if f.lower().endswith((".mid", ".midi")):
                found.append(os.path.join(root, f))
    if not found:
        sys.exit(f"{folder}: folder contains no MIDI files")
    return sorted(set(found), key=lambda p: tuple(x.encode() for x in p.split(os.sep)))


def load_tracks(folder):
    """-> list of (path, tokens without the start marker)."""
    return [(p, midi_tokens.tokenize(p)) for p in midi_files(folder)]


def valid_shifts(tokens, n):
    """Shifts in [-n, n] that keep every pitch of the file (ids 0..255) in 0..127."""
    pitches = [t & 127 for t in tokens if t < 256]
    if not pitches:
        return list(range(-n, n + 1))
    lo, hi = min(pitches), max(pitches)
    return [k for k in range(-n, n + 1) if lo + k >= 0 and hi + k <= 127]


class Streams:
    """Port of gruwave's data::Streams (src/data.rs), plus per-piece transposition."""

    def __init__(self, tracks, batch, tbptt, transpose=0, rng=None):
        total = sum(len(t) for t in tracks)
        window = tbptt + 1
        span = total // batch
        if span < window:
            raise ValueError(f"the data is shorter than one batch: {total} tokens in {len(tracks)} "
                             f"tracks give {batch} streams of {span} tokens, each needs {window}")
        bounds, start = [], 0
        for t in tracks:
            bounds.append((start, start + len(t)))
            start += len(t)
        self.segments = []      # per stream: [(start, end, file index)]
        for b in range(batch):
            lo, hi = b * span, (b + 1) * span
            segs = [(max(s, lo), min(e, hi), f) for f, (s, e) in enumerate(bounds)
                    if min(e, hi) >= max(s, lo) + window]
            if not segs:
                raise ValueError(f"stream {b} of {batch}: no piece of a single file holds {window} tokens")
            self.segments.append(segs)
        self.tokens = np.concatenate([np.asarray(t, dtype=np.int64) for t in tracks])
        self.tbptt = tbptt
        self.cursor = [(0, segs[0][0]) for segs in self.segments]
        self.transpose = transpose
        self.rng = rng or random.Random(0)
        self.shifts = [valid_shifts(t, transpose) for t in tracks] if transpose else None
        self.k = [0] * batch    # the current piece's shift, per stream

    def windows_per_epoch(self):
        return max(sum((e - s - 1) // self.tbptt for s, e, _ in segs) for segs in self.segments)

    def next_batch(self):
        """-> (tokens [B, T+1] int64 array, reset [B] bool array); advances by T tokens."""
        window = self.tbptt + 1
        out = np.empty((len(self.segments), window), dtype=np.int64)
        reset = np.zeros(len(self.segments), dtype=bool)
        for b, segs in enumerate(self.segments):
            si, pos = self.cursor[b]
            s, e, f = segs[si]
            reset[b] = pos == s
            w = self.tokens[pos:pos + window].copy()
            if self.transpose:
                if reset[b]:    # entering a piece: draw its shift for this pass
                    self.k[b] = self.rng.choice(self.shifts[f])
                if self.k[b]:
                    w[w < 256] += self.k[b]
            out[b] = w
            nxt = pos + self.tbptt
            if nxt + window <= e:
                self.cursor[b] = (si, nxt)
            else:
                si = (si + 1) % len(segs)
                self.cursor[b] = (si, segs[si][0])
        return out, reset


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model, files, chunk=16):
    """files: token lists (without marker). -> (bits per event, bits per second, tokens, seconds)."""
    total_nats, total_tokens, total_seconds = 0.0, 0, 0.0
    order = sorted(range(len(files)), key=lambda i: len(files[i]))   # batch similar lengths
    for i0 in range(0, len(order), chunk):
        group = [files[i] for i in order[i0:i0 + chunk] if len(files[i]) > 0]
        if not group:
            continue
        n = max(len(t) for t in group)
        x = torch.full((len(group), n), START, dtype=torch.long)
        y = torch.full((len(group), n), -100, dtype=torch.long)
        for r, t in enumerate(group):
            tt = torch.tensor(t, dtype=torch.long)
            x[r, 1:len(t)] = tt[:-1]         # input TS100 + tokens[:-1]; padding only follows
            y[r, :len(t)] = tt               # targets = tokens
        logits, _ = model(x)                 # zero initial state
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                              ignore_index=-100, reduction="sum")
        total_nats += float(nll)
        total_tokens += sum(len(t) for t in group)
        total_seconds += sum((t - TS_FIRST + 1) for tt in group for t in tt
                             if TS_FIRST <= t <= TS_LAST) / 100.0
    bits = total_nats / math.log(2)
    return bits / total_tokens, bits / total_seconds, total_tokens, total_seconds


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", help="folder of training MIDI files")
    ap.add_argument("--valid", help="folder of validation MIDI files")
    ap.add_argument("--init", help="initial weights (safetensors, state_dict names)")
    ap.add_argument("--write-init", metavar="FILE",
                    help="write PyTorch's default init for the model (seeded by --seed) and exit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--transpose", type=int, default=0, help="transposition range N (0: none)")
    ap.add_argument("--csv", help="write the evaluation rows here")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    for k in ("E", "H", "L", "B", "T"):
        ap.add_argument(f"--{k}", type=int, default=CONFIG[k], help=f"default {CONFIG[k]} (midi-small)")
    a = ap.parse_args()
    c = dict(CONFIG, E=a.E, H=a.H, L=a.L, B=a.B, T=a.T)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = GruLM(c["V"], c["E"], c["H"], c["L"]).float()
    assert list(model.state_dict()) == NAMES(c["L"])

    if a.write_init:
        save_safetensors(a.write_init, model.state_dict(), model_meta(c))
        print(f"wrote PyTorch's default init (seed {a.seed}, torch {torch.__version__}) of "
              f"V={c['V']} E={c['E']} H={c['H']} L={c['L']} to {a.write_init}")
        return
    if not (a.train and a.valid):
        ap.error("--train and --valid are needed to train (or give --write-init)")
    if a.init:
        load_init(model, a.init, c)

    t0 = time.time()
    train = load_tracks(a.train)
    valid = load_tracks(a.valid)
    for p, t in train + valid:
        if any(not 0 <= x < c["V"] for x in t):
            sys.exit(f"{p}: token out of range")
    streams = Streams([[START] + t for _, t in train], c["B"], c["T"], a.transpose,
                      random.Random(a.seed))
    valid_tokens = [t for _, t in valid]
    n_train = sum(len(t) + 1 for _, t in train)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; model V={c['V']} E={c['E']} "
          f"H={c['H']} L={c['L']}, B={c['B']} T={c['T']}, lr {a.lr}, clip {a.clip}, "
          f"transpose {a.transpose}, seed {a.seed}, init {a.init or 'default (seeded)'}")
    print(f"train: {len(train)} files, {n_train} tokens with markers, "
          f"{streams.windows_per_epoch()} windows per pass; valid: {len(valid)} files, "
          f"{sum(map(len, valid_tokens))} tokens; tokenized in {time.time() - t0:.1f} s", flush=True)

    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    params = list(model.parameters())
    h = torch.zeros(c["L"], c["B"], c["H"])
    writer = None
    if a.csv:
        os.makedirs(os.path.dirname(os.path.abspath(a.csv)), exist_ok=True)
        fcsv = open(a.csv, "w", newline="")
        writer = csv.writer(fcsv)
        writer.writerow(["step", "train_bits_per_event", "valid_bits_per_event",
                         "valid_bits_per_second", "elapsed_s"])
    print(f"{'step':>6} {'train bits':>10} {'valid bits/ev':>13} {'valid bits/s':>12} {'elapsed s':>9}",
          flush=True)
    losses, train_time, start = [], 0.0, time.time()
    vb = float("nan")
    for step in range(1, a.steps + 1):
        ts = time.time()
        w, reset = streams.next_batch()
        w = torch.from_numpy(w)
        x, y = w[:, :-1], w[:, 1:]
        keep = torch.from_numpy(~reset).to(torch.float32).view(1, -1, 1)
        h = h * keep                                 # zero the rows that start a piece
        logits, hn = model(x, h)
        loss = F.cross_entropy(logits.reshape(-1, c["V"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        h = hn.detach()
        losses.append(float(loss) / math.log(2))
        train_time += time.time() - ts
        if step % a.eval_every == 0 or step == a.steps:
            model.eval()
            vb, vbs, _, _ = evaluate(model, valid_tokens)
            model.train()
            tb = sum(losses) / len(losses)
            el = time.time() - start
            print(f"{step:>6} {tb:>10.4f} {vb:>13.4f} {vbs:>12.3f} {el:>9.1f}", flush=True)
            if writer:
                writer.writerow([step, f"{tb:.6f}", f"{vb:.6f}", f"{vbs:.6f}", f"{el:.2f}"])
                fcsv.flush()
            losses = []
    print(f"training: {a.steps} steps, {train_time / a.steps:.3f} s per step "
          f"({c['B'] * c['T'] * a.steps / train_time:.0f} tokens/s), evaluations excluded")
    print(f"final valid bits/event {vb:.4f}", flush=True)


if __name__ == "__main__":
    main()
