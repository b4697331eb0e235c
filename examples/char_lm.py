"""A small character-level language model: token + position embeddings, causal self-attention
blocks (pre-LayerNorm, MLP) and a linear head, trained to predict the next character.

The text ships with Python: by default The Zen of Python (the ``this`` module, stored ROT13-encoded),
or with ``--text docs`` the docstrings of a few standard-library modules (a bigger corpus).

    python3 examples/char_lm.py                       # ~1-2 minutes on 2 cores
    python3 examples/char_lm.py --steps 2000 --out runs/char_lm

Prints samples generated before and after training and saves the loss curve as ``loss.png``.
"""
import argparse
import codecs
import contextlib
import importlib
import io
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import nn  # noqa: E402

DOC_MODULES = ["this", "functools", "itertools", "collections", "textwrap", "json", "argparse", "random"]


def zen_of_python():
    """The Zen of Python, decoded from the ``this`` module (importing it prints it: silenced)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def load_text(which):
    if which == "zen":
        return zen_of_python()
    parts = [zen_of_python()]
    for name in DOC_MODULES[1:]:
        doc = importlib.import_module(name).__doc__
        if doc:
            parts.append(doc.strip())
    return "\n\n".join(parts)


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x)): a pre-LayerNorm transformer block."""

    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x, causal_mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=causal_mask, need_weights=False, is_causal=True)[0]
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))


class CharLM(nn.Module):
    def __init__(self, vocab, block_size, dim=64, heads=4, layers=2, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(block_size, dim)
        self.blocks = nn.ModuleList([Block(dim, heads, dropout) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        with minigrad.no_grad():  # small embeddings train more smoothly than N(0, 1)
            self.tok.weight.data *= 0.1
            self.pos.weight.data *= 0.1

    def forward(self, idx):
        """idx (B, T) int -> logits (B, T, vocab)."""
        T = idx.shape[1]
        # bool mask in MultiheadAttention's convention: True = may NOT attend (the future)
        causal = minigrad.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
        x = self.tok(idx) + self.pos(minigrad.arange(T))
        for block in self.blocks:
            x = block(x, causal)
        return self.head(self.ln(x))


@minigrad.no_grad()
def generate(model, stoi, itos, prompt, length, rng, temperature=0.8):
    was_training = model.training
    model.eval()
    ids = [stoi[c] for c in prompt if c in stoi] or [0]
    for _ in range(length):
        context = np.array([ids[-model.block_size:]])
        logits = model(minigrad.tensor(context)).numpy()[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train(was_training)
    return "".join(itos[i] for i in ids)


def save_loss_curve(losses, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, lw=0.8, alpha=0.4, label="batch loss")
    if len(losses) >= 20:
        w = max(len(losses) // 20, 2)
        smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1:], smooth, lw=2, label=f"mean of {w}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / char)")
    ax.set_title("character LM training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--block", type=int, default=48, help="context length in characters")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--text", choices=["zen", "docs"], default="zen")
    ap.add_argument("--sample-chars", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/char_lm", help="directory for loss.png")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    minigrad.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_text(args.text)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = dict(enumerate(chars))
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    block = min(args.block, len(data) - 1)
    print(f"text: {args.text}, {len(text)} characters, vocabulary {len(chars)}; context {block}")

    model = CharLM(len(chars), block, args.dim, args.heads, args.layers, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.layers} blocks, dim {args.dim}, {args.heads} heads, {n_params:,} parameters")
    opt = nn.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = nn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(args.steps, 1), eta_min=args.lr / 10)
    prompt = text[:12]
    print(f"\n-- sample before training --\n{generate(model, stoi, itos, prompt, min(args.sample_chars, 60), rng)}\n")

    losses = []
    offsets = np.arange(block + 1)
    t0 = time.perf_counter()
    bar = tqdm(range(args.steps), disable=args.no_progress, desc="train", unit="step")
    for _ in bar:
        starts = rng.integers(0, len(data) - block, args.batch)
        window = data[starts[:, None] + offsets]  # (B, block + 1)
        x, y = minigrad.tensor(window[:, :-1]), minigrad.tensor(window[:, 1:])
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    elapsed = time.perf_counter() - t0
    if losses:
        print(f"trained {args.steps} steps in {elapsed:.1f} s; loss {losses[0]:.3f} -> {np.mean(losses[-10:]):.3f} "
              f"(uniform guess: {np.log(len(chars)):.3f})")

    samples = [generate(model, stoi, itos, p, args.sample_chars, rng) for p in (prompt, "\n")]
    for s in samples:
        print(f"\n-- sample --\n{s}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "loss.png")
    save_loss_curve(losses, path)
    print(f"\nloss curve: {path}")
    return {"losses": np.array(losses), "samples": samples, "model": model, "loss_png": path}


if __name__ == "__main__":
    main()
