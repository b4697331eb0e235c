"""The examples: every study runs with ``--quick`` as a user would (``python examples/NAME.py``, in a
subprocess with the repository on ``PYTHONPATH``) and its ``finding:`` lines are checked for the
direction they claim; the shared helpers (data, transforms) are checked against references."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.cpu_only  # subprocesses / host-side files: the device run adds nothing

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# longest --quick run first (4-6 s each on 2 cores), so that the two workers finish together
STUDIES = ["normalization_study", "augmentation_study", "char_lm", "bn_vanishing_gradients", "norms_and_regularization",
           "bn_train_eval_gap", "universal_approximation", "roi_and_upsampling", "embedding_study"]
NUM = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Run every study with --quick, two at a time (2 cores): name -> (returncode, stdout + stderr, out dir)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")

    def run(name):
        out = tmp_path_factory.mktemp(name)
        proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(out)],
                              capture_output=True, text=True, env=env, cwd=str(out), timeout=300)
        return name, (proc.returncode, proc.stdout + proc.stderr, out)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, STUDIES))


def findings(quick_runs, name):
    code, text, out = quick_runs[name]
    assert code == 0, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith("finding:")]
    assert lines, f"{name} printed no finding: line"
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.stat().st_size > 5000 for p in pngs), pngs
    assert "\r" not in text, "a progress bar wrote to a non-terminal"
    return lines


def grab(lines, pattern):
    """The numbers captured by ``pattern`` in the first finding line that matches it."""
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return [float(g) for g in m.groups()]
    raise AssertionError(f"no finding line matches {pattern!r}:\n" + "\n".join(lines))


def test_normalization_study(quick_runs):
    lines = findings(quick_runs, "normalization_study")
    assert grab(lines, rf"largest \|mean\| {NUM}")[0] < 1e-5
    var, seed_var, xhat, seed_xhat, mg = grab(lines, rf"variance of .* is {NUM}, not {NUM}, so x_hat\[0\] = {NUM}, "
                                                     rf"not {NUM} \(minigrad: {NUM}\)")
    assert (var, seed_var, xhat, seed_xhat, mg) == (0.692, 0.747, 0.992, 0.954, 0.992)
    diff, jitter_misread, jitter = grab(lines, rf"same running mean \(max difference {NUM}\).*second half {NUM} vs {NUM}")
    assert diff < 1e-5 and jitter_misread > 2 * jitter
    g_err, b_err = grab(lines, rf"largest errors {NUM} and {NUM}")
    assert g_err < 0.05 and b_err < 0.05
    assert grab(lines, rf"max \|output\| {NUM}")[0] == 0.0
    bn, gn = grab(lines, rf"batch 2: test accuracy in eval mode BatchNorm {NUM}% vs GroupNorm {NUM}%")
    assert gn > bn + 10  # at batch 2 BatchNorm on 1x1 maps only sees +-1
    # the first batch line is the largest batch (32 by default, 16 in --quick): there BatchNorm works
    big, bn_big, gn_big = grab(lines, rf"batch {NUM}: test accuracy in eval mode BatchNorm {NUM}% vs GroupNorm {NUM}%")
    assert big >= 16 and bn_big > bn + 10


def test_norms_and_regularization(quick_runs):
    lines = findings(quick_runs, "norms_and_regularization")
    l1_err, l2_err = grab(lines, rf"sums to 1 within {NUM}, L2 length 1 within {NUM}")
    assert l1_err < 1e-5 and l2_err < 1e-5
    n0, n2, l2_zero, prox_zero = grab(lines, rf"\|\|W\|\|_2 {NUM} -> {NUM}\) but leaves {NUM}% exactly zero; "
                                             rf"L1 with the proximal step zeroes {NUM}%")
    assert n2 < n0 and l2_zero == 0 and prox_zero >= 5
    sub_zero, sub_near, l2_near = grab(lines, rf"leaves {NUM}% exactly zero but {NUM}% below 0.001 \(vs {NUM}% with L2\)")
    assert sub_near > l2_near + 5


def test_augmentation_study(quick_runs):
    lines = findings(quick_runs, "augmentation_study")
    flip, none = grab(lines, rf"flips lower test accuracy: {NUM}% vs {NUM}%")
    assert flip < none - 2
    mirrored, upright = grab(lines, rf"reads mirrored test digits at {NUM}% vs {NUM}%")
    assert mirrored < upright - 25


def test_bn_vanishing_gradients(quick_runs):
    lines = findings(quick_runs, "bn_vanishing_gradients")
    plain, bn = grab(lines, rf"first layer's gradient is {NUM} x the last layer's \(vanishing\), with BatchNorm {NUM} x")
    assert plain < 0.1 < 0.5 < bn
    sat_plain, sat_bn = grab(lines, rf"saturated units {NUM}% vs {NUM}%")
    assert sat_bn < sat_plain
    # small weights: the 1/4 bound does the damage, saturation hardly any; large weights: the reverse
    bound, sat = grab(lines, rf"scale 0.58: .* x the 1/4 bound {NUM} x saturation {NUM}")
    assert bound < 1e-2 and sat > 0.3
    weights, sat4 = grab(lines, rf"scale 4: .* = weights {NUM} x the 1/4 bound {NUM} x saturation {NUM}")[::2]
    assert weights > 1e2 and sat4 < 0.1
    # the gradient-flow drawings: what reaches layer 1's output, relative to the last layer's
    flow_plain, flow_bn = grab(lines, rf"layer 1's output is {NUM} x layer \d+'s without BatchNorm .*, {NUM} x with it")
    assert flow_plain < 0.1 < 0.5 < flow_bn
    code, text, out = quick_runs["bn_vanishing_gradients"]
    if importlib.util.find_spec("graphviz") is None:
        assert "note: no gradient-flow drawings" in text
        return
    if shutil.which("dot") is None:
        assert (out / "grad_flow_plain.dot").exists() and (out / "grad_flow_batchnorm.dot").exists()
        return
    for name in ("grad_flow_plain.png", "grad_flow_batchnorm.png", "grad_flow_pair.png"):
        assert (out / name).stat().st_size > 20000, name
    for name, block in (("plain", "LinearSigmoid"), ("batchnorm", "LinearBNSigmoid")):
        svg = (out / f"grad_flow_{name}.svg").read_text()
        assert "layer8" in svg and block in svg and "output grad norm" in svg


def test_bn_train_eval_gap(quick_runs):
    lines = findings(quick_runs, "bn_train_eval_gap")
    assert grab(lines, rf"eval mode \(max difference {NUM}\)")[0] < 1e-5


def test_universal_approximation(quick_runs):
    lines = findings(quick_runs, "universal_approximation")
    pieces, layers, params = grab(lines, rf"The {NUM}-piece sawtooth is exact with {NUM} hidden layers of 2 ReLUs \({NUM} params\)")
    assert (pieces, layers, params) == (8, 3, 19)


def test_roi_and_upsampling(quick_runs):
    lines = findings(quick_runs, "roi_and_upsampling")
    edge, pool, align = grab(lines, rf"bin edges by up to {NUM} feature px .* jitters by {NUM} feature px as the box "
                                    rf"slides, RoI Align by {NUM}")
    assert align < 1e-3 and pool > 0.3 and edge > 0.5
    floor, exact = grab(lines, rf"by {NUM} input px, nearest-exact by {NUM}")
    assert exact < 0.2 < 0.5 < floor
    # RoI Align follows the sliding box exactly; with aligned=False it samples half a feature pixel off
    text = quick_runs["roi_and_upsampling"][1].splitlines()
    offset, jitter = grab(text, rf"RoI Align \(aligned=True\) +offset {NUM} px, jitter {NUM} px")
    assert abs(offset) < 1e-4 and jitter < 1e-4
    offset, jitter = grab(text, rf"RoI Align \(aligned=False\) +offset {NUM} px, jitter {NUM} px")
    assert offset == pytest.approx(0.5, abs=1e-4) and jitter < 1e-4
    assert (quick_runs["roi_and_upsampling"][2] / "roi_and_upsampling.png").stat().st_size > 10_000


def test_embedding_study(quick_runs):
    lines = findings(quick_runs, "embedding_study")
    near, far = grab(lines, rf"mean cosine similarity {NUM} and distant ones \(\|i-j\| >= 5\) {NUM}")
    assert near > far + 0.5  # the learned vectors order the digits
    code, text, out = quick_runs["embedding_study"]
    first, last = grab(text.splitlines(), rf"loss {NUM} -> {NUM}")
    assert last < 0.5 * first
    rows = [line.split() for line in text.splitlines() if re.match(r"^ +\d +[-+ ]\d\.\d\d", line)]
    sim = np.array([[float(v) for v in row[1:]] for row in rows])
    assert sim.shape == (10, 10)
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=0.005)  # a vector's cosine with itself
    np.testing.assert_allclose(sim, sim.T, atol=0.005)
    assert (out / "embedding_similarity.png").exists()


def test_char_lm(quick_runs):
    lines = findings(quick_runs, "char_lm")
    first, last, uniform = grab(lines, rf"loss from {NUM} to {NUM} nats/char \(uniform guess {NUM}\)")
    assert last < uniform < first + 0.5
    code, text, out = quick_runs["char_lm"]
    assert (out / "attention.png").exists() and (out / "loss.png").exists()
    # two samples after training, their prompt and generated characters (20 in --quick; newlines at the ends stripped)
    after = text.split("trained ", 1)[1]
    samples = [chunk.split("\nwrote", 1)[0].strip("\n") for chunk in after.split("-- sample --\n")[1:]]
    assert len(samples) == 2 and all(len(s) >= 10 for s in samples), samples


@pytest.mark.parametrize("name", STUDIES + ["train_resnet18", "mlp_raw_tensors"])
def test_help_shows_defaults_and_no_sys_path_edits(name):
    source = (EXAMPLES / f"{name}.py").read_text()
    assert "sys.path" not in source
    assert "ArgumentDefaultsHelpFormatter" in source or "study_parser" in source


# ---------------------------------------------------------------- the shared helpers, in-process


@pytest.fixture()
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_random_shift_matches_a_loop_reference(examples_on_path):
    import transforms

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2, 4, 6)).astype(np.float32)
    out = transforms.random_shift(x, 2, np.random.default_rng(1), fill=-7.0)
    assert out.shape == x.shape and out.dtype == np.float32
    # the same draws as random_shift makes: dy for all images, then dx
    r = np.random.default_rng(1)
    dy, dx = r.integers(0, 5, size=5), r.integers(0, 5, size=5)
    for i in range(5):
        padded = np.full((2, 4 + 4, 6 + 4), -7.0, np.float32)
        padded[:, 2:6, 2:8] = x[i]
        np.testing.assert_array_equal(out[i], padded[:, dy[i]:dy[i] + 4, dx[i]:dx[i] + 6])
    assert transforms.random_shift(x, 0, rng, fill=0.0) is x


class FixedAngle:
    """A stand-in generator whose uniform draws are all ``value``."""

    def __init__(self, value):
        self.value = value

    def uniform(self, low, high, size=None):
        return np.full(size, self.value)


def test_transforms_against_exact_cases(examples_on_path):
    import transforms

    x = np.random.default_rng(0).normal(size=(3, 2, 5, 5)).astype(np.float32)
    rng = np.random.default_rng(1)
    np.testing.assert_allclose(transforms.random_rotation(x, 0, rng, fill=0.0), x, atol=1e-6)
    # a quarter turn of a square image is an exact permutation of its pixels
    turned = transforms.random_rotation(x, 90, FixedAngle(90.0), fill=0.0)
    np.testing.assert_allclose(turned, np.rot90(x, k=-1, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(transforms.random_resized_crop(x, 5, rng, fill=0.0), x, atol=1e-6)
    np.testing.assert_array_equal(transforms.random_hflip(x, 1.0, rng), x[..., ::-1])
    np.testing.assert_array_equal(transforms.random_hflip(x, 0.0, rng), x)
    small = transforms.random_rotation(x, 15, rng, fill=-3.0)
    assert small.shape == x.shape and small.dtype == np.float32 and np.isfinite(small).all()


def test_load_digits_split_is_fixed_and_standardised(examples_on_path):
    import common

    a = common.load_digits(split_seed=0)
    b = common.load_digits(split_seed=0)
    x_tr, y_tr, x_te, y_te, background = a
    assert x_tr.shape == (1437, 1, 8, 8) and x_te.shape == (360, 1, 8, 8)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[3], b[3])
    assert abs(x_tr.mean()) < 1e-4 and abs(x_tr.std() - 1) < 1e-3
    assert np.isclose(x_tr.min(), background)
    assert set(np.bincount(y_te)) <= {35, 36, 37}  # stratified: ~36 of each digit
    flat = common.load_digits_flat(0)
    np.testing.assert_array_equal(flat[0], x_tr.reshape(1437, 64))


def test_quick_overrides_defaults_but_not_explicit_flags(examples_on_path):
    import common

    p = common.study_parser("doc", "x")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.1)
    args = common.parse(p, ["--quick", "--lr", "0.5"], quick=dict(epochs=1, lr=0.2))
    assert (args.epochs, args.lr, args.quick) == (1, 0.5, True)
    assert os.path.join("runs", "studies", "x") == common.parse(p, [], quick=dict(epochs=1)).out


def test_train_resnet18_tiny_run(tmp_path, examples_on_path):
    import nn
    import train_resnet18 as train

    out = tmp_path / "run"
    summary = train.main(["--epochs", "2", "--limit", "24", "--batch-size", "12", "--out", str(out),
                          "--no-progress", "--optimizer", "sgd"])
    assert 0.0 <= summary["test_acc"] <= 1.0
    assert len(summary["history"]["train_loss"]) == 2
    assert summary["history"]["lr"][-1] == pytest.approx(0.0, abs=1e-12)  # cosine schedule ends at 0
    for name in ("resnet18_digits.npz", "curves.png", "history.json"):
        assert (out / name).stat().st_size > 0
    assert summary["graph"] is not None and Path(summary["graph"]).stat().st_size > 0
    if summary["graph"].endswith(".svg"):
        assert "layer4" in Path(summary["graph"]).read_text()
    # the checkpoint loads into a fresh model
    model = nn.models.resnet18(num_classes=10, in_channels=1, small_input=True)
    model.load_state_dict(nn.load(out / "resnet18_digits.npz"))
    assert int(model.bn1.num_batches_tracked.item()) == 4


def test_deep_sawtooth_net_is_exact_for_several_depths(examples_on_path):
    import minigrad
    import universal_approximation as study

    x = np.linspace(0, 1, 1025, dtype=np.float32)
    for k in (1, 2, 4, 5):
        model = study.deep_sawtooth_net(k)
        with minigrad.no_grad():
            y = model(minigrad.tensor(x[:, None])).numpy()[:, 0]
        np.testing.assert_allclose(y, study.sawtooth(x, k), atol=1e-5)
        assert study.linear_pieces(model, x[:, None]) == 2 ** k
