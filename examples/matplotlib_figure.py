"""Push a matplotlib figure (stored as SVG) with a Markdown description.

python examples/matplotlib_figure.py
"""

import matplotlib

matplotlib.use("Agg")

import dstack  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    frame = dstack.frame("examples/sine-waves")
    x = np.linspace(0, 2 * np.pi, 200)
    for frequency in (1, 2, 3, 4):
        figure, axes = plt.subplots(figsize=(6, 3))
        axes.plot(x, np.sin(frequency * x))
        axes.set_title(f"sin({frequency}x)")
        frame.add(
            figure,
            description=f"A sine wave, $y = \\sin({frequency}x)$, sampled at 200 points.",
            frequency=frequency,
        )
        plt.close(figure)
    result = frame.push(message="Sine waves")
    print("figure:", result.url)


if __name__ == "__main__":
    main()
