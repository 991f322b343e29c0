"""`invoke ct --install --upgrade` of the model charts on the real node: pods Ready, `helm test` run
for real, before and after an upgrade from the previous chart version (issue 17, part d).

Every ci values file that names only images Wharf builds is installed (example models tagged as the
values name them), waited for, tested with its chart's helm test Pod and uninstalled. The others
need images Wharf does not build; they are left out here by name, each with its reason (the
API-server harness still installs all of them, tests/charts/test_cluster.py).
"""

from __future__ import annotations

import re
import subprocess

from node_support import chart_repo

MODEL_CHARTS = ("wharf-model", "wharf-graph", "wharf-abtest", "wharf-mab")
NOT_RUNNABLE = {
    # SKLEARN_SERVER itself runs on the node (test_e2e_prepackaged.py), from a bucket the test fills
    "wharf-model/ci/prepackaged-values.yaml": "a model in Seldon's public gs:// bucket, out of this machine's reach",
    "wharf-graph/ci/combiner-values.yaml": "a SKLEARN_SERVER child whose model is in Seldon's public gs:// bucket",
    "wharf-model/ci/upstream-values.yaml": "upstream's defaults set no model image (its pods cannot start)",
    "wharf-abtest/ci/upstream-values.yaml": "seldonio/mock_classifier",
    "wharf-mab/ci/upstream-values.yaml": "seldonio/mab_epsilon_greedy and seldonio/mock_classifier",
}
# the example images under the names the ci values use
TAGS = {
    "iris": ("wharf/iris:0.1.0", "wharf/iris:0.2.0"),
    "scaler": ("wharf/scaler:0.1.0",),
    "router": ("wharf/epsilon-router:0.1.0",),
}


def test_ct_install_runs_every_model_chart_values_file_with_wharf_images(
    kube_node, wharf_core, example_images, tmp_path
):
    from wharf.charts.ctconfig import load_config
    from wharf.charts.ctinstall import InstallOptions, install

    tags = [tag for name, names in TAGS.items() for tag in names]
    for name, names in TAGS.items():
        for tag in names:
            subprocess.run(["docker", "tag", example_images[name], tag], check=True)
    kube_node.load(*tags)

    repo = chart_repo(tmp_path / "repo", MODEL_CHARTS, drop=tuple(NOT_RUNNABLE))
    kept = sorted(str(p.relative_to(repo / "charts")) for p in (repo / "charts").glob("*/ci/*-values.yaml"))
    assert len(kept) == 5, kept
    # what is left names no image Wharf does not build
    for path in kept:
        images = re.findall(r"(?:image|name): (\S+/\S+)", (repo / "charts" / path).read_text())
        assert all(i.startswith("wharf/") for i in images), (path, images)

    out: list[str] = []
    config = load_config(
        repo, flags={"charts": ",".join(f"charts/{c}" for c in MODEL_CHARTS), "upgrade": True}, environ={}
    )
    ok = install(repo, config, InstallOptions(kubeconfig=str(kube_node.kubeconfig)), out.append)
    text = "\n".join(out)
    assert ok, text
    for path in kept:
        chart, _, values = path.split("/")
        # from the committed version to the bumped one (pods Ready, helm test again), then a fresh install
        assert f"upgrade {chart} from its previous version with {values}" in text
        assert f"install {chart} with {values}" in text
    assert len(re.findall(r"helm\S* upgrade \S+", text)) >= len(kept), text
    # each helm test Pod reached its predictor Service and printed the answer's status: after the
    # previous version's install, after the upgrade, and after the fresh install
    assert text.count("POD LOGS:") >= 3 * len(kept) and len(re.findall(r"^200 ", text, re.M)) >= 3 * len(kept), text
