"""chainrule.sklearn.MLPClassifier beside scikit-learn's own MLPClassifier on digits.

    python benchmarks/sklearn_bench.py [--epochs 40] [--seeds 3]

Both get the same settings: one hidden layer of 64 ReLU units, Adam at η = 1e-3, batches of 32,
no weight decay (scikit-learn's alpha = 0), standardised features (chainrule's own; a
StandardScaler in front of scikit-learn's), exactly `--epochs` epochs (scikit-learn's
loss-based stopping switched off), on the same stratified 75/25 split of the 1,797 digits.
Each (contender, seed) fits in a fresh process; the table shows the mean test accuracy and the
median fit time, and the fit time as a ratio to scikit-learn's. Needs the [sklearn] extra.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _timing import fresh_runs

CONTENDERS = ("scikit-learn", "chainrule float32", "chainrule float64")


def _child(name: str, seed: int, epochs: int) -> None:
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                        random_state=0)
    if name == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(64,), activation="relu", solver="adam", learning_rate_init=1e-3,
            batch_size=32, alpha=0.0, max_iter=epochs, n_iter_no_change=epochs + 1,
            random_state=seed))
    else:
        from chainrule.sklearn import MLPClassifier

        model = MLPClassifier(hidden=(64,), activation="relu", optimizer="adam", lr=1e-3,
                              batch_size=32, epochs=epochs, seed=seed, dtype=name.split()[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's "max_iter reached" ConvergenceWarning
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    print(f"{seconds} {model.score(X_test, y_test)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.epochs)
        return

    print(f"digits, 64 ReLU units, Adam η = 1e-3, batch 32, {args.epochs} epochs; "
          f"{args.seeds} seeds, each in a fresh process")
    results = {}
    for name in CONTENDERS:
        runs = [(float(out[0]), float(out[1])) for seed in range(args.seeds) for out in fresh_runs(
            __file__, ["--epochs", str(args.epochs), "--child", name, str(seed)], 1)]
        results[name] = (statistics.median(r[0] for r in runs),
                         statistics.mean(r[1] for r in runs))
    base = results["scikit-learn"][0]
    print(f"{'estimator':<20}{'test accuracy':>14}{'fit seconds':>13}{'× time':>8}")
    for name, (seconds, accuracy) in results.items():
        print(f"{name:<20}{accuracy:>14.4f}{seconds:>13.3f}{seconds / base:>8.2f}")


if __name__ == "__main__":
    main()
