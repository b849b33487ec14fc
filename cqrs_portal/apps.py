from django.contrib.staticfiles.apps import StaticFilesConfig


class PortalStaticFilesConfig(StaticFilesConfig):
    """The NHS.UK frontend's npm package ships its sources, per-component builds, type declarations and
    source maps beside the one stylesheet and script the portal serves. Collecting and compressing all of
    it (58 MB) made `make serve` take minutes to start on a busy 2-core machine; the pages need none of it."""

    # Only nhsuk-frontend.min.css and .min.js (each with the source map its last line names) and the assets
    # folder are served; every other name below is a file or folder of the package the pages never load.
    ignore_patterns = [
        *StaticFilesConfig.ignore_patterns,
        "components",
        "core",
        "common",
        "lib",
        "macros",
        "errors",
        "ext",
        "*.mjs",
        "*.mjs.map",
        "*.mts",
        "*.mts.map",
        "*.scss",
        "*.scss.map",
        "*.njk",
        "*.gz",
        "*.d.ts",
        "htmx.js",
        "htmx.amd.js",
        "htmx.cjs.js",
        "htmx.esm.js",
        "component.js*",
        "configurable-component.js*",
        "i18n.js*",
        "index.js*",
        "nhsuk.js*",
        "nhsuk-frontend.js*",
        "nhsuk-frontend.css*",
        "nhsuk-frontend-*",
        "nhsuk-frontend-dynamic-type*",
    ]
