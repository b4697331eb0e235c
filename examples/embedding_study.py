"""What do learned embeddings encode? Learn a vector for each digit 0-9 from one task, then compare
the vectors by cosine similarity.

Task: given two digits a and b, predict their sum a + b (19 classes) with a model that can only
ADD the two vectors and read the class off linearly: ``logits = Linear(E[a] + E[b])``. Nothing
tells the model that 3 is "close" to 4; but for sums to come out right, E[3] + E[5] must land
where E[4] + E[4] does, and so on. Trained on 70 of the 100 pairs, the vectors line up like a
number line: neighbouring digits get similar vectors, 0 and 9 opposite ones, and the held-out
pairs come out mostly right.

    python examples/embedding_study.py               # a few seconds; figure in runs/studies/embedding_study/
    python examples/embedding_study.py --dim 16

Prints the 10 x 10 cosine-similarity table and saves it as a heatmap (embedding_similarity.png).
"""
import numpy as np

import minigrad
import minigrad.functional as F
import nn
from common import parse, progress, pyplot, save_figure, study_parser


class SumModel(nn.Module):
    """logits = Linear(E[a] + E[b])."""

    def __init__(self, dim, init_scale=0.1):
        super().__init__()
        self.embed = nn.Embedding(10, dim)
        self.head = nn.Linear(dim, 19)
        with minigrad.no_grad():  # start small, so what is learned dominates the random start
            self.embed.weight.data *= init_scale

    def forward(self, a, b):
        return self.head(self.embed(a) + self.embed(b))


def cosine_table(vectors):
    """(n, d) -> (n, n) cosine similarities, computed with F.normalize."""
    with minigrad.no_grad():
        unit = F.normalize(vectors, dim=1)
        return (unit @ unit.T).numpy()


def print_table(sim):
    print("cosine similarity of the learned digit vectors:")
    print("     " + "".join(f"{j:>6d}" for j in range(sim.shape[1])))
    for i, row in enumerate(sim):
        print(f"{i:>4d} " + "".join(f"{v:6.2f}" for v in row))


def save_heatmap(sim, out):
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 4.3))
    im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("digit")
    ax.set_ylabel("digit")
    ax.set_title("cosine similarity of learned digit embeddings\n(task: a + b from E[a] + E[b])")
    for i in range(10):
        for j in range(10):
            ax.text(j, i, f"{sim[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="cosine similarity")
    fig.tight_layout()
    return save_figure(fig, out, "embedding_similarity.png")


def main(argv=None):
    ap = study_parser(__doc__, "embedding_study")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--train-pairs", type=int, default=70, help="pairs trained on (of 100); the rest are held out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when "
                    "stderr is not a terminal)")
    args = parse(ap, argv, quick=dict(steps=200))

    minigrad.manual_seed(args.seed)
    a, b = (g.reshape(-1) for g in np.meshgrid(np.arange(10), np.arange(10), indexing="ij"))
    order = np.random.default_rng(args.seed).permutation(100)
    train, held_out = order[:args.train_pairs], order[args.train_pairs:]
    A, B, target = minigrad.tensor(a[train]), minigrad.tensor(b[train]), minigrad.tensor(a[train] + b[train])
    model = SumModel(args.dim)
    opt = nn.optim.Adam(model.parameters(), lr=args.lr)
    before = cosine_table(model.embed.weight)
    losses = []
    bar = progress(range(args.steps), enabled=not args.no_progress, desc="train", unit="step")
    for _ in bar:
        loss = F.cross_entropy(model(A, B), target)  # full batch
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    with minigrad.no_grad():
        right = model(minigrad.tensor(a), minigrad.tensor(b)).argmax(dim=1).numpy() == a + b
    acc_train, acc_held = float(right[train].mean()), float(right[held_out].mean()) if held_out.size else float("nan")
    print(f"trained {args.steps} full-batch steps on {len(train)} pairs: loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
          f"accuracy {acc_train:.0%} on them, {acc_held:.0%} on the {len(held_out)} held-out pairs")

    sim = cosine_table(model.embed.weight)
    print_table(sim)
    gap = np.abs(np.subtract.outer(np.arange(10), np.arange(10)))
    contrast = {}
    for name, s in (("random init", before), ("learned", sim)):
        near, far = float(s[gap == 1].mean()), float(s[gap >= 5].mean())
        contrast[name] = (near, far)
        print(f"{name:>12s}: mean similarity of neighbours (|i-j| = 1) {near:+.2f}, of distant pairs (|i-j| >= 5) {far:+.2f}")

    path = save_heatmap(sim, args.out)
    (near0, far0), (near, far) = contrast["random init"], contrast["learned"]
    print(f"finding: learned only from sums, neighbouring digits' vectors have mean cosine similarity {near:+.2f} "
          f"and distant ones (|i-j| >= 5) {far:+.2f} (random init: {near0:+.2f} / {far0:+.2f}): the embedding "
          f"orders the digits like a number line; held-out pairs {acc_held:.0%} right.")
    return {"similarity": sim, "similarity_init": before, "losses": np.array(losses),
            "accuracy_train": acc_train, "accuracy_held_out": acc_held, "near_far": contrast["learned"],
            "figure": path}


if __name__ == "__main__":
    main()
