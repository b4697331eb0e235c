"""RoI Pool vs RoI Align, and nearest vs bilinear upsampling: where the quantization goes.

Part 1 reproduces the classic Mask R-CNN picture. A box given in image pixels is mapped to a
stride-16 feature map. RoI Pool rounds the box to whole feature pixels and then rounds every bin
edge (floor / ceil); RoI Align keeps every coordinate real and reads bilinearly interpolated
sample points. We measure (a) how far RoI Pool's box and bin edges are from the true ones, and
(b) what happens to the pooled feature when the box slides by 1 image pixel at a time over a map
whose value is the x coordinate: RoI Align follows the box exactly (aligned=True) or with a constant
half-pixel offset (aligned=False); RoI Pool moves in steps of a whole feature pixel (16 image pixels).

Part 2 upsamples an 8x8 digit (scikit-learn's bundled digits, or a drawn 7 without it): nearest
copies pixels (blocky, no new values); bilinear blends the 4 neighbours (smooth, new values). Then
it measures where the two nearest rules read: PyTorch's ``nearest``, src = floor(dst * in / out),
takes the input pixel under each output pixel's top-left corner, ``nearest-exact`` the one under its
centre. Downsampling 30 -> 10, the floor rule moves the content by up to a whole input pixel
towards the bottom-right; nearest-exact, like bilinear, hardly moves it.

    python examples/roi_and_upsampling.py            # a few seconds; figure in runs/studies/roi_and_upsampling/
"""
import importlib.util
import os

import numpy as np

import minigrad as mg
from common import parse, pyplot, save_figure, study_parser
from minigrad import functional as F

STRIDE = 16
BOX = (37.0, 29.0, 141.0, 133.0)  # x1, y1, x2, y2 in image pixels
FEATURE = 12  # a 12x12 map at stride 16 covers a 192x192 image


# ------------------------------------------------------------------ part 1: RoI Pool vs RoI Align


def roi_pool_geometry(box, out, stride=STRIDE):
    """RoI Pool's quantized box and bin edges along x (continuous feature coordinates, pixel j = [j, j+1))
    next to the exact ones: (exact_edges, pooled_edges) as arrays of (start, end) per bin."""
    x1, x2 = box[0] / stride, box[2] / stride
    start, end = int(np.floor(x1 + 0.5)), int(np.floor(x2 + 0.5))  # round (half away from zero; x >= 0 here)
    size = max(end - start + 1, 1)
    p = np.arange(out)
    pooled = np.stack([np.floor(p * size / out) + start, np.ceil((p + 1) * size / out) + start], 1)
    exact = np.stack([x1 + p * (x2 - x1) / out, x1 + (p + 1) * (x2 - x1) / out], 1)
    return exact, pooled


def translation_test(shifts, out=7):
    """Slide the box right by ``shifts`` image pixels over the ramp map f(h, w) = w + 0.5 (the
    centre of pixel w) and return the mean pooled value of each op, in feature pixels."""
    ramp = np.tile(np.arange(FEATURE) + 0.5, (1, 1, FEATURE, 1)).astype(np.float32)
    x = mg.tensor(ramp)
    x1, y1, x2, y2 = BOX
    boxes = np.array([[0, x1 + s, y1, x2 + s, y2] for s in shifts], np.float32)
    rois = mg.tensor(boxes)
    with mg.no_grad():
        res = {
            "RoI Align (aligned=True)": F.roi_align(x, rois, out, 1 / STRIDE, 2, aligned=True),
            "RoI Align (aligned=False)": F.roi_align(x, rois, out, 1 / STRIDE, 2, aligned=False),
            "RoI Pool": F.roi_pool(x, rois, out, 1 / STRIDE),
        }
    return {k: v.numpy().mean(axis=(1, 2, 3)) for k, v in res.items()}


# ------------------------------------------------------------------ part 2: nearest vs bilinear


def small_image():
    """An 8x8 grey image: scikit-learn's first digit (a 0) when installed, else a drawn 7.

    The digit is read straight from the CSV that scikit-learn ships (importing sklearn would take
    seconds); the row is the same as ``sklearn.datasets.load_digits().images[0]``.
    """
    spec = importlib.util.find_spec("sklearn")
    path = spec and os.path.join(os.path.dirname(spec.origin), "datasets", "data", "digits.csv.gz")
    if path and os.path.exists(path):
        row = np.loadtxt(path, delimiter=",", max_rows=1)
        return row[:64].reshape(8, 8).astype(np.float32), "sklearn digit 0"
    img = np.zeros((8, 8), np.float32)
    img[1, 1:7] = 16
    for i in range(2, 7):
        img[i, 7 - i] = 16
    return img, "a drawn 7"


def centre_of_mass(img, scale=1.0):
    """Centre of mass (y, x) in INPUT pixel units, pixel i spanning [i, i+1) of the output / scale."""
    h, w = img.shape
    total = img.sum()
    cy = (img.sum(1) * (np.arange(h) + 0.5)).sum() / total / scale
    cx = (img.sum(0) * (np.arange(w) + 0.5)).sum() / total / scale
    return np.array([cy, cx])


def upsample(img, **kw):
    with mg.no_grad():
        return F.interpolate(mg.tensor(img[None, None]), **kw).numpy()[0, 0]


# ------------------------------------------------------------------ main


def main(argv=None):
    parser = study_parser(__doc__, "roi_and_upsampling")
    parser.add_argument("--max-shift", type=int, default=32, help="slide the box by 0..N image pixels")
    args = parse(parser, argv, quick=dict(max_shift=16))
    findings = {}

    # (a) geometry of the quantization
    x1, y1, x2, y2 = BOX
    print(f"Box {BOX} in image pixels, stride {STRIDE}:")
    print(f"  exact feature-map box  x: [{x1 / STRIDE:.4f}, {x2 / STRIDE:.4f})   y: [{y1 / STRIDE:.4f}, {y2 / STRIDE:.4f})")
    exact, pooled = roi_pool_geometry(BOX, 7)
    box_err = np.abs(np.array([pooled[0, 0] - exact[0, 0], pooled[-1, 1] - exact[-1, 1]]))
    edge_err = np.abs(pooled - exact)
    print(f"  RoI Pool rounds it to  x: [{pooled[0, 0]:.0f}, {pooled[-1, 1]:.0f})  -> box edges off by "
          f"{box_err[0]:.4f} and {box_err[1]:.4f} feature px ({box_err[0] * STRIDE:.1f} and {box_err[1] * STRIDE:.1f} image px)")
    widths = (pooled[:, 1] - pooled[:, 0]).astype(int)
    print(f"  7 bins along x: exact width {(x2 - x1) / STRIDE / 7:.4f} px each; RoI Pool's bins are {widths.tolist()} px wide "
          f"(overlapping), bin edges off by {edge_err.mean():.3f} px on average, {edge_err.max():.3f} at most "
          f"(= {edge_err.max() * STRIDE:.1f} image px)")
    print("  RoI Align keeps all of these real: its error is 0 by construction.")
    findings["pool_box_edge_error_px"] = float(box_err.max())
    findings["pool_bin_edge_error_px"] = float(edge_err.max())

    # (b) slide the box by 1 image pixel at a time over the map f = x
    shifts = np.arange(0, args.max_shift + 1)
    resp = translation_test(shifts)
    ideal = (x1 + x2) / 2 / STRIDE + shifts / STRIDE  # the box centre in feature coordinates
    print(f"\nSliding the box right by 0..{args.max_shift} image px over the map f(h, w) = w + 0.5 (7x7 output, mean of the bins);")
    print("ideal: the box centre, rising 1/16 feature px per image px. offset = mean error, jitter = worst error left after it:")
    for name, r in resp.items():
        dev = r - ideal
        jitter = np.abs(dev - dev.mean()).max()
        steps = np.abs(np.diff(r))
        print(f"  {name:26s} offset {dev.mean():+.4f} px, jitter {jitter:.4f} px ({jitter * STRIDE:4.1f} image px); "
              f"a 1 px shift moves it by {steps.min():.4f} .. {steps.max():.4f}")
        findings[f"{name} offset"] = float(dev.mean())
        findings[f"{name} jitter"] = float(jitter)
    print("  (RoI Pool's offset is partly the max: on a ramp the max sits at the right end of each bin.)")

    # part 2: upsampling a digit
    img, what = small_image()
    near = upsample(img, scale_factor=4, mode="nearest")
    bil = upsample(img, scale_factor=4, mode="bilinear")
    print(f"\nUpsampling {what} (8x8, {len(np.unique(img))} grey levels) by 4:")
    print(f"  nearest : {len(np.unique(near))} distinct values (only copies), every pixel a 4x4 block")
    print(f"  bilinear: {len(np.unique(bil))} distinct values (new in-between values), "
          f"mean |bilinear - nearest| = {np.abs(bil - near).mean():.3f}")
    # where does each rule read? floor: the pixel under the output pixel's top-left corner;
    # nearest-exact: the pixel under its centre. Measure the shift of the centre of mass.
    big = upsample(img, size=(30, 30), mode="bilinear")  # a smooth 30x30 version of the digit
    com0 = centre_of_mass(big)
    print("  centre-of-mass shift of the 30x30 smooth digit, in input px (y, x):")
    for size in (45, 10):
        row = []
        for mode in ("nearest", "nearest-exact", "bilinear"):
            shift = centre_of_mass(upsample(big, size=(size, size), mode=mode), size / 30) - com0
            row.append(f"{mode} ({shift[0]:+.3f}, {shift[1]:+.3f})")
            findings[f"com_shift_{mode}_{size}"] = float(np.abs(shift).max())
        print(f"    30 -> {size:2d}: " + ",  ".join(row))
    floor_vs_exact = upsample(img, scale_factor=1.5, mode="nearest") - upsample(img, scale_factor=1.5, mode="nearest-exact")
    print(f"  8 -> 12 (x1.5): nearest (floor rule) and nearest-exact disagree on {np.mean(floor_vs_exact != 0):.0%} of the pixels")

    path = _figure(args.out, exact, pooled, shifts, resp, ideal, img, near, bil, floor_vs_exact, what)
    findings["figure"] = path
    pool_j, align_j = findings["RoI Pool jitter"], findings["RoI Align (aligned=True) jitter"]
    print(f"finding: RoI Pool's rounding moves box and bin edges by up to {findings['pool_bin_edge_error_px']:.2f} "
          f"feature px ({findings['pool_bin_edge_error_px'] * STRIDE:.0f} image px) and its output jitters by "
          f"{pool_j:.2f} feature px as the box slides, RoI Align by {align_j:.0e}; nearest's floor rule shifts a "
          f"30 -> 10 downsampled digit by {findings['com_shift_nearest_10']:.2f} input px, nearest-exact by "
          f"{findings['com_shift_nearest-exact_10']:.2f}.")
    return findings


def _figure(out, exact, pooled, shifts, resp, ideal, img, near, bil, diff, what):
    plt = pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    fig = plt.figure(figsize=(15, 9.5))
    grid = fig.add_gridspec(2, 4)

    ax = fig.add_subplot(grid[0, :2])
    x1, y1, x2, y2 = (v / STRIDE for v in BOX)
    for k in range(FEATURE + 1):
        ax.axhline(k, color="0.85", lw=0.8)
        ax.axvline(k, color="0.85", lw=0.8)
    # RoI Pool: the rounded box cut at floor/ceil edges (2x2 bins, as in the Mask R-CNN figure)
    ex, px = roi_pool_geometry(BOX, 2)
    ey, py = roi_pool_geometry((BOX[1], 0, BOX[3], 0), 2)
    for (a, b) in px:
        for (c, d) in py:
            ax.add_patch(Rectangle((a, c), b - a, d - c, fill=False, ec="tab:red", lw=1.5, ls="--"))
    # RoI Align: the exact box, 2x2 bins, 2x2 bilinear sample points per bin
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="tab:blue", lw=2.5))
    bw, bh = (x2 - x1) / 2, (y2 - y1) / 2
    ax.plot([x1 + bw] * 2, [y1, y2], color="tab:blue", lw=1)
    ax.plot([x1, x2], [y1 + bh] * 2, color="tab:blue", lw=1)
    sx = x1 + (np.arange(4) + 0.5) * bw / 2
    sy = y1 + (np.arange(4) + 0.5) * bh / 2
    gx, gy = np.meshgrid(sx, sy)
    ax.plot(gx.ravel(), gy.ravel(), "o", color="tab:blue", ms=5)
    ax.set_xlim(0, FEATURE)
    ax.set_ylim(FEATURE, 0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (feature-map pixels; 1 px = 16 image px)")
    ax.set_ylabel("y (feature-map pixels)")
    ax.set_title("a box on a stride-16 feature map, cut into 2x2 bins")
    ax.legend(handles=[Line2D([], [], color="tab:blue", lw=2.5, label="exact box and bins (RoI Align)"),
                       Line2D([], [], color="tab:blue", marker="o", ls="", label="RoI Align's 2x2 bilinear samples per bin"),
                       Line2D([], [], color="tab:red", lw=1.5, ls="--", label="RoI Pool's rounded bins (floor / ceil)"),
                       Line2D([], [], color="0.85", lw=0.8, label="feature-map pixel grid")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))

    ax = fig.add_subplot(grid[0, 2:])
    ax.plot(shifts, ideal, "k-", lw=3, alpha=0.3, label="box centre (ideal)")
    styles = {"RoI Align (aligned=True)": "o-", "RoI Align (aligned=False)": ".--", "RoI Pool": "s-"}
    for name, r in resp.items():
        ax.plot(shifts, r, styles[name], ms=3, label=name, drawstyle="steps-post" if name == "RoI Pool" else "default")
    ax.set_xlabel("box shift (image px)")
    ax.set_ylabel("mean pooled value = x position (feature px)")
    ax.set_title("sliding the box right over the map f(h, w) = w + 0.5")
    ax.legend(fontsize=8, loc="upper left")

    panels = [(img, f"input 8x8\n({what})", "grey level"), (near, "nearest x4\n(32x32)", "grey level"),
              (bil, "bilinear x4\n(32x32)", "grey level"), (diff, "x1.5 (12x12):\nnearest - nearest-exact",
                                                          "difference")]
    for i, (im, title, unit) in enumerate(panels):
        ax = fig.add_subplot(grid[1, i])
        if i == 3:
            lim = max(np.abs(im).max(), 1e-6)
            shown = ax.imshow(im, cmap="RdBu", vmin=-lim, vmax=lim, interpolation="none")
        else:
            shown = ax.imshow(im, cmap="gray_r", vmin=0, vmax=16, interpolation="none")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x (output px)")
        ax.set_ylabel("y (output px)")
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=unit)
    fig.suptitle("part 1: RoI Pool vs RoI Align (top); part 2: nearest vs bilinear upsampling (bottom)")
    fig.tight_layout()
    return save_figure(fig, out, "roi_and_upsampling.png", dpi=90)


if __name__ == "__main__":
    main()
