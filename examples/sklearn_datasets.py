"""Push scikit-learn's bundled datasets as DataFrames, one param per dataset.

python examples/sklearn_datasets.py
"""

import dstack
from sklearn import datasets

LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
    "breast_cancer": datasets.load_breast_cancer,
}


def main() -> None:
    frame = dstack.frame("examples/sklearn-datasets")
    for name, load in LOADERS.items():
        bunch = load(as_frame=True)
        frame.add(bunch.frame, description=bunch.DESCR.splitlines()[0], dataset=name)
    result = frame.push(message="scikit-learn datasets")
    print("datasets:", result.url)

    iris = dstack.pull("examples/sklearn-datasets", dataset="iris")
    print("pulled back:", iris.shape, "rows and columns of iris")


if __name__ == "__main__":
    main()
