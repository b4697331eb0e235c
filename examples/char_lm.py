"""A small character-level language model: token + position embeddings, causal self-attention
blocks (pre-LayerNorm, MLP) and a linear head, trained to predict the next character.

The text ships with Python: by default The Zen of Python (the ``this`` module, stored ROT13-encoded),
or with ``--text docs`` the docstrings of a few standard-library modules (a bigger corpus).

    python examples/char_lm.py                       # ~1-2 minutes on 2 cores
    python examples/char_lm.py --steps 2000 --out runs/char_lm

Prints samples generated before and after training, saves the loss curve as ``loss.png`` and the
attention weights of every layer for one sentence as ``attention.png`` (row: the character that
looks, column: the characters it looks at; each row sums to 1, the future is masked).
"""
import codecs
import contextlib
import importlib
import io
import os
import time

import numpy as np

import minigrad
import minigrad.functional as F
import nn
from common import parse, progress, pyplot, save_figure, study_parser

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

    def forward(self, x, causal_mask, need_weights=False):
        """x (B, T, dim) -> (B, T, dim); with ``need_weights`` also the attention weights averaged
        over the heads, (B, T, T)."""
        h = self.ln1(x)
        a, weights = self.attn(h, h, h, attn_mask=causal_mask, need_weights=need_weights,
                               is_causal=not need_weights)
        x = x + a
        x = x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))
        return (x, weights) if need_weights else x


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

    def forward(self, idx, need_weights=False):
        """idx (B, T) int -> logits (B, T, vocab); with ``need_weights`` also a list with each
        block's attention weights (B, T, T), averaged over the heads."""
        T = idx.shape[1]
        # bool mask in MultiheadAttention's convention: True = may NOT attend (the future)
        causal = minigrad.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
        x = self.tok(idx) + self.pos(minigrad.arange(T))
        maps = []
        for block in self.blocks:
            if need_weights:
                x, w = block(x, causal, need_weights=True)
                maps.append(w)
            else:
                x = block(x, causal)
        logits = self.head(self.ln(x))
        return (logits, maps) if need_weights else logits


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


@minigrad.no_grad()
def attention_maps(model, stoi, sentence):
    """Each block's attention weights (T, T), averaged over the heads, for one sentence (eval mode)."""
    was_training = model.training
    model.eval()
    ids = np.array([[stoi[c] for c in sentence if c in stoi][:model.block_size]])
    _, maps = model(minigrad.tensor(ids), need_weights=True)
    model.train(was_training)
    return [m.numpy()[0] for m in maps]


def save_attention(maps, sentence, out):
    plt = pyplot()
    labels = [repr(c)[1:-1] if c != " " else "\u2423" for c in sentence[:maps[0].shape[0]]]
    n = len(labels)
    fig, axes = plt.subplots(1, len(maps), figsize=(0.26 * n * len(maps) + 2, 0.26 * n + 1.6), squeeze=False)
    for i, (ax, w) in enumerate(zip(axes[0], maps)):
        im = ax.imshow(w, cmap="viridis", vmin=0, vmax=max(float(w.max()), 1e-6))
        ax.set_xticks(range(n), labels, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        ax.set_xlabel("key: the character looked at")
        ax.set_ylabel("query: the character looking (predicts the next one)")
        ax.set_title(f"block {i + 1}, mean over heads", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    fig.suptitle(f"attention weights for {sentence!r} (upper triangle: the future, masked)")
    fig.tight_layout()
    return save_figure(fig, out, "attention.png")


def save_loss_curve(losses, out):
    plt = pyplot()

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
    return save_figure(fig, out, "loss.png", dpi=100)


def main(argv=None):
    ap = study_parser(__doc__, "char_lm")
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
    ap.add_argument("--no-progress", action="store_true", help="no tqdm progress bar (off anyway when "
                    "stderr is not a terminal)")
    args = parse(ap, argv, quick=dict(steps=30, batch=16, dim=32, layers=1, block=32, sample_chars=20))

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
    bar = progress(range(args.steps), enabled=not args.no_progress, desc="train", unit="step")
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
    path = save_loss_curve(losses, args.out)
    sentence = text.splitlines()[0][:block]
    maps = attention_maps(model, stoi, sentence)
    attention_png = save_attention(maps, sentence, args.out)
    # how local is the last block's attention? weight on the query itself and the 3 characters before it
    last = maps[-1]
    t = np.arange(len(last))
    local = np.mean([last[i, max(0, i - 3):i + 1].sum() for i in t[4:]])
    uniform = np.mean([min(4, i + 1) / (i + 1) for i in t[4:]])
    uniform_loss = float(np.log(len(chars)))
    print(f"finding: training takes the loss from {losses[0]:.2f} to {np.mean(losses[-10:]):.2f} nats/char "
          f"(uniform guess {uniform_loss:.2f}); in the last block a character puts {local:.0%} of its attention "
          f"on itself and the 3 characters before it (uniform over the past: {uniform:.0%}).")
    return {"losses": np.array(losses), "samples": samples, "model": model, "loss_png": path,
            "attention_png": attention_png, "local_attention": float(local), "uniform_local": float(uniform),
            "uniform_loss": uniform_loss}


if __name__ == "__main__":
    main()
