from tests.conftest import REPO

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


def assert_no_serious_accessibility_violations(page) -> None:
    """Run axe-core against WCAG 2.2 A/AA rules and fail on any serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}
        })"""
    )
    serious = [v for v in results["violations"] if v["impact"] in {"serious", "critical"}]
    assert not serious, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} — {[node['target'] for node in v['nodes']][:3]}"
        for v in serious
    )
    assert results["passes"], "axe-core checked nothing"
