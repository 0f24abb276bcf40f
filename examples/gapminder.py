"""Push plotly's bundled gapminder data as one interactive stack.

Each (year, continent) pair becomes one attachment of a single revision, so
the stack page shows a year slider and a continent select. A second stack
holds the whole table, which the page shows paginated and offers as CSV.

    python examples/gapminder.py
"""

import dstack
import plotly.express as px


def main() -> None:
    data = px.data.gapminder()

    frame = dstack.frame("examples/gapminder")
    for year in sorted(data["year"].unique()):
        for continent in sorted(data["continent"].unique()):
            rows = data[(data["year"] == year) & (data["continent"] == continent)]
            figure = px.scatter(
                rows,
                x="gdpPercap",
                y="lifeExp",
                size="pop",
                hover_name="country",
                log_x=True,
                range_x=[100, 100_000],
                range_y=[25, 90],
                title=f"{continent}, {year}",
            )
            frame.add(
                figure,
                description=f"Life expectancy against GDP per capita in {continent}, {year}.",
                year=int(year),
                continent=continent,
            )
    result = frame.push(message="Gapminder, one chart per year and continent")
    print("chart:", result.url)

    table = dstack.push(
        "examples/gapminder-table",
        data,
        description="The gapminder table as plotly ships it.",
        message="Gapminder table",
    )
    print("table:", table.url)


if __name__ == "__main__":
    main()
