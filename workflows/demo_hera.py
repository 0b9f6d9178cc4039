"""The offline demo pipeline of demo.yaml, written the way the team writes its Hera
scripts: Python loops over vintages and boroughs instead of Argo loops, the claim as an
ExistingVolume, the proxy ConfigMap as ConfigMapEnvFrom, and `w.create()` at the end.

    cargo xtask run demo_hera        # captured, pinned, submitted and followed
    cargo xtask run demo_hera --dry-run
    python3 workflows/demo_hera.py   # as before: Hera submits it directly

For every vintage: collect -> split -> strip for every borough, then tile over all the
boroughs of the vintage; the same steps and the same files on the volume as demo.yaml.
Written for Hera 5 (the team's version; xtask.toml [hera] version) and runs on Hera 7.
"""

import json
import os

from hera.workflows import (
    DAG,
    ConfigMapEnvFrom,
    Container,
    Env,
    ExistingVolume,
    Parameter,
    Resources,
    Task,
    Workflow,
)

BOROUGHS = ["LYON_1ER", "LYON_8EME"]
VINTAGES = ["2009", "2012"]

# As the team's helper library reads them: the toolkit exports its resolved values.
NAMESPACE = os.environ.get("ARGO_NAMESPACE", "argo")
CLAIM = os.environ.get("KUBEVOLUMECLAIMNAME", "vcity-pvc")
CONFIGMAP = os.environ.get("KUBECONFIGMAP", "vcity-pagoda-proxy-environment")

DATA = ExistingVolume(name="data", claim_name=CLAIM, mount_path="/data")


def stage(name, image, args, inputs):
    """One container template per image, its name literal so that the toolkit pins it."""
    return Container(
        name=name,
        image=image,
        command=[image],
        args=args,
        inputs=[Parameter(name=i) for i in inputs],
        env=[
            Env(name="DATA_ROOT", value="/data"),
            Env(name="EXPERIMENT", value="{{workflow.parameters.experiment}}"),
        ],
        env_from=[ConfigMapEnvFrom(name=CONFIGMAP)],
        volumes=[DATA],
        resources=Resources(cpu_request="50m", memory_request="16Mi", memory_limit="64Mi"),
    )


def task_name(step, vintage, borough=None):
    parts = [step, vintage] + ([borough.lower().replace("_", "-")] if borough else [])
    return "-".join(parts)


with Workflow(
    generate_name="demo-hera-",
    entrypoint="main",
    namespace=NAMESPACE,
    active_deadline_seconds=1800,
    arguments=[Parameter(name="experiment", value="junk")],
    labels={"app.kubernetes.io/part-of": "vcity-citygml-3dtiles"},
) as w:
    borough_args = ["{{inputs.parameters.borough}}", "{{inputs.parameters.vintage}}"]
    collect = stage("demo-collect", "demo-collect", borough_args, ["borough", "vintage"])
    split = stage("demo-split", "demo-split", borough_args, ["borough", "vintage"])
    strip = stage("demo-strip", "demo-strip", borough_args, ["borough", "vintage"])
    tile = stage(
        "tile",
        "demo-tile",
        ["--boroughs", json.dumps(BOROUGHS, separators=(",", ":")), "{{inputs.parameters.vintage}}"],
        ["vintage"],
    )
    with DAG(name="main"):
        for vintage in VINTAGES:
            chains = []
            for borough in BOROUGHS:
                arguments = {"borough": borough, "vintage": vintage}
                c = Task(name=task_name("collect", vintage, borough), template=collect, arguments=arguments)
                s = Task(name=task_name("split", vintage, borough), template=split, arguments=arguments)
                t = Task(name=task_name("strip", vintage, borough), template=strip, arguments=arguments)
                c >> s >> t
                chains.append(t)
            chains >> Task(name=task_name("tile", vintage), template=tile, arguments={"vintage": vintage})

if __name__ == "__main__":
    w.create()
