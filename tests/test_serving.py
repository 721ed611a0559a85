"""The MLflow model: logged by training, loaded and predicted, registered, resolved, served."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from helpers import LIGHT_HEADS, sqlite_tracking
from landslide.annotations import Annotations, ImageAnn, Region, write_coco
from landslide.cli import app
from landslide.errors import ServingError
from landslide.params import Params, PredictParams
from landslide.train import TrainPaths, train

# MLflow's sqlite store uses a SQLAlchemy loader option that SQLAlchemy 2.x deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

CLASSES = ["landslide", "vegetation", "water_body", "building"]
SIZE = 64
NAME = "landslide-maskrcnn"
LIGHT = {
    "weights": "none",
    "epochs": 1,
    "lr": 0.001,
    "batch_size": 2,
    "warmup_iters": 1,
    **LIGHT_HEADS,
}


def photo_bytes(width: int, height: int, fmt: str = "PNG", seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((height, width, 3)) * 90 + 40).astype(np.uint8)
    pixels[height // 4 : height // 2, width // 3 : width // 2] = (210, 190, 160)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_data(root: Path, n: int = 2) -> TrainPaths:
    (root / "images").mkdir(parents=True)
    images = []
    for i in range(n):
        (root / "images" / f"im{i}.png").write_bytes(photo_bytes(SIZE, SIZE, seed=i))
        square = ((21, 16), (32, 16), (32, 32), (21, 32))
        images.append(ImageAnn(f"im{i}.png", SIZE, SIZE, (Region("landslide", square),)))
    write_coco(Annotations(images), root / "train.json", CLASSES)
    return TrainPaths(root / "train.json", root / "images", None, None, root / "out")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A sqlite tracking store in a temp dir and one training run (1 epoch, 2 photos)."""
    tmp = tmp_path_factory.mktemp("serving")
    with sqlite_tracking(tmp, "serving-tests") as (client, uri, mp):
        mp.setenv("LANDSLIDE_MODEL_CACHE", str(tmp / "cache"))
        params = Params(
            classes=CLASSES,
            prepare={"size": (SIZE, SIZE)},
            train=LIGHT,
            mlflow={"tracking_uri": uri, "experiment": "serving-tests"},
        )
        result = train("A", "resnet50", params, paths=make_data(tmp / "data"))
        yield {"tmp": tmp, "uri": uri, "client": client, "run": result.run_id, "result": result}


@pytest.fixture(scope="module")
def pyfunc(store: dict[str, Any]) -> Any:
    import mlflow

    # dst_path: without it MLflow downloads into a temporary directory it never removes
    return mlflow.pyfunc.load_model(
        f"runs:/{store['run']}/model", dst_path=str(store["tmp"] / "pyfunc")
    )


@pytest.fixture(scope="module")
def registered(store: dict[str, Any]) -> Any:
    from landslide.registry import register

    return register(store["run"], PredictParams(), store["uri"])


# --------------------------------------------------------------------------- the pyfunc


def test_each_training_run_logs_a_pyfunc_model(store: dict[str, Any]):
    import mlflow
    import yaml

    client, run_id = store["client"], store["run"]
    run = client.get_run(run_id)
    (logged,) = [
        m
        for m in client.search_logged_models([run.info.experiment_id], "name = 'model'")
        if m.source_run_id == run_id
    ]
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{logged.model_id}"))
    names = {p.name for p in local.iterdir()}
    assert {"MLmodel", "artifacts", "requirements.txt", "input_example.json"} <= names
    assert "python_model.pkl" not in names  # models from code: nothing pickled
    assert {p.name for p in (local / "artifacts").iterdir()} == {"model.pt", "model.json"}
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [(c["name"], c["type"], c.get("required", True)) for c in inputs] == [
        ("image", "string", True),
        ("threshold", "double", False),
    ]
    params = {p["name"]: p["default"] for p in json.loads(mlmodel["signature"]["params"])}
    assert params == {"threshold": 0.8, "min_score": 0.5, "mask_threshold": 0.5, "simplify": 0.5}
    meta = mlmodel["metadata"]["landslide"]
    assert meta == {
        "classes": CLASSES,
        "backbone": "resnet50",
        "variant": "v1",
        "size": [SIZE, SIZE],
        "epoch": 1,
    }
    requirements = (local / "requirements.txt").read_text()
    assert f"torch=={torch.__version__.split('+')[0]}" in requirements
    # the run's own artifacts: the description and curves; the weights live in the pyfunc
    run_artifacts = {a.path for a in client.list_artifacts(run_id, "model")}
    assert "model/model.json" in run_artifacts and "model/model.pt" not in run_artifacts


def test_pyfunc_predicts_what_detect_gives(store: dict[str, Any], pyfunc: Any):
    from landslide.inference import TorchDetector, detect
    from landslide.model import load_model

    png, jpeg = photo_bytes(80, 60), photo_bytes(50, 70, "JPEG", seed=3)
    frame = pd.DataFrame({"image": [b64(png), b64(jpeg)], "threshold": [0.0, None]})
    out = pyfunc.predict(frame)
    assert [(o["width"], o["height"]) for o in out] == [(80, 60), (50, 70)]
    assert out[0]["threshold"] == 0.0 and out[1]["threshold"] == 0.8  # None: the default
    model, info = load_model(store["result"].model_path)
    detector = TorchDetector(model, info)
    for data, got, threshold, min_score in ((png, out[0], 0.0, 0.0), (jpeg, out[1], 0.8, 0.5)):
        with Image.open(io.BytesIO(data)) as image:
            (want,) = detect(
                detector, [image], threshold=threshold, min_score=min_score, simplify=0.5
            )
        assert got == json.loads(json.dumps(want.to_json()))
    assert {"detected", "prediction", "max_score", "instances"} <= set(out[0])
    # inference params (MLflow's params) override the defaults logged with the model
    (strict,) = pyfunc.predict(frame.iloc[:1][["image"]], params={"threshold": 1.0})
    assert strict["threshold"] == 1.0 and strict["detected"] is False


def test_pyfunc_loads_weights_with_weights_only(
    store: dict[str, Any], monkeypatch: Any, tmp_path: Path
):
    import mlflow

    calls: list[dict[str, Any]] = []
    real = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    mlflow.pyfunc.load_model(f"runs:/{store['run']}/model", dst_path=str(tmp_path))
    assert calls and all(c.get("weights_only") is True for c in calls)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"image": ["!!not base64!!"]}, "row 0: 'image' is not base64"),
        ({"image": [b64(b"hello, world")]}, "row 0: 'image' is not an image"),
        ({"image": [""]}, "row 0: 'image' is empty"),
        ({"image": [b64(photo_bytes(8, 8)), b64(b"GIF89a")]}, "row 1: 'image' is not an image"),
        ({"image": [b64(photo_bytes(8, 8))], "threshold": [1.5]}, "row 0: threshold 1.5"),
        ({"picture": ["x"]}, "missing inputs ['image']"),
    ],
)
def test_bad_payloads_are_invalid_parameter_values(pyfunc: Any, frame: dict, message: str):
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as info:
        pyfunc.predict(pd.DataFrame(frame))
    assert message in info.value.message
    assert info.value.get_http_status_code() == 400


def test_a_truncated_image_is_a_bad_payload(pyfunc: Any):
    from mlflow.exceptions import MlflowException

    data = photo_bytes(64, 64, "JPEG")
    with pytest.raises(MlflowException, match="row 0: cannot decode the image") as info:
        pyfunc.predict(pd.DataFrame({"image": [b64(data[: len(data) // 2])]}))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


# --------------------------------------------------------------------------- registry


def aliases(client: Any) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_register_sets_the_alias_and_resolve_downloads_once(store: dict[str, Any], registered):
    from landslide.model import load_model
    from landslide.registry import register, resolve_model

    assert (registered.name, registered.version, registered.alias) == (NAME, "1", "champion")
    assert registered.previous is None and "models:/landslide-maskrcnn@champion" in (
        registered.summary_line()
    )
    client, uri = store["client"], store["uri"]
    assert aliases(client) == {"champion": "1"}
    version = client.get_model_version(NAME, "1")
    assert version.run_id == store["run"] and version.tags["backbone"] == "resnet50"

    path = resolve_model(f"models:/{NAME}@champion", uri)
    assert path.name == "model.pt" and path.with_suffix(".json").is_file()
    model, info = load_model(path, classes=CLASSES)
    assert info.backbone == "resnet50" and not model.training
    stamp = path.stat().st_mtime_ns
    assert resolve_model(f"models:/{NAME}/1", uri) == path  # the same version: the cache
    assert path.stat().st_mtime_ns == stamp
    by_run = resolve_model(f"runs:/{store['run']}/model", uri)
    assert by_run.read_bytes() == path.read_bytes()

    staging = register(store["run"], PredictParams(), uri, alias="challenger")
    assert staging.version == "2" and staging.alias == "challenger"
    again = register(store["run"], PredictParams(alias="challenger"), uri)
    assert again.version == "3" and again.previous == "2"
    assert aliases(client) == {"champion": "1", "challenger": "3"}


def test_unknown_alias_version_model_and_run_name_what_exists(store: dict[str, Any], registered):
    from landslide.registry import resolve_model

    uri = store["uri"]
    with pytest.raises(ServingError) as info:
        resolve_model(f"models:/{NAME}@production", uri)
    text = info.value.render()
    assert "no alias 'production'" in text and "champion -> version 1" in text
    assert "landslide model register --run RUN --alias production" in text
    with pytest.raises(ServingError, match=r"no version '99' \(versions: .*1\)"):
        resolve_model(f"models:/{NAME}/99", uri)
    with pytest.raises(ServingError, match=r"no registered model 'other' .*registered: landslide"):
        resolve_model("models:/other@champion", uri)
    with pytest.raises(ServingError, match="needs an alias or a version"):
        resolve_model(f"models:/{NAME}", uri)
    with pytest.raises(ServingError, match="run '0123abc' not found"):
        resolve_model("runs:/0123abc/model", uri)
    with pytest.raises(ServingError, match="not an MLflow model URI"):
        resolve_model("s3://bucket/model.pt", uri)
    with pytest.raises(ServingError, match="cannot download the model"):
        resolve_model(f"runs:/{store['run']}/nothing/here.pt", uri)


def test_register_refuses_bad_aliases_other_classes_and_runs_without_a_model(
    store: dict[str, Any],
):
    from landslide.registry import register

    uri, run_id = store["uri"], store["run"]
    for alias, message in (("v1", "reserved"), ("Latest", "reserved"), ("a b", "invalid alias")):
        with pytest.raises(ServingError, match=message):
            register(run_id, PredictParams(), uri, alias=alias)
    with pytest.raises(ServingError, match=r"made for classes \[landslide, vegetation"):
        register(run_id, PredictParams(), uri, classes=["landslide", "rock"])
    bare = store["client"].create_run(store["client"].get_run(run_id).info.experiment_id)
    with pytest.raises(ServingError, match="has no MLflow model 'model'"):
        register(bare.info.run_id, PredictParams(model_name="bare"), uri)
    assert "bare" not in {m.name for m in store["client"].search_registered_models()}


def test_cli_registers_and_predict_reads_the_alias(store: dict[str, Any], tmp_path: Path):
    params = tmp_path / "params.yaml"
    params.write_text(f"mlflow: {{tracking_uri: '{store['uri']}'}}\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        app, ["model", "register", "--run", store["run"], "--alias", "cli", "-p", str(params)]
    )
    assert result.exit_code == 0, result.output
    assert "alias 'cli' -> version" in result.output
    result = runner.invoke(app, ["model", "register", "--run", "nope", "-p", str(params)])
    assert result.exit_code == 2 and "error: run 'nope' not found" in result.output
    (tmp_path / "photo.png").write_bytes(photo_bytes(70, 50))
    out = tmp_path / "pred"
    result = runner.invoke(
        app,
        [
            *("predict", str(tmp_path / "photo.png"), "--model", f"models:/{NAME}@cli"),
            *("--out", str(out), "-p", str(params)),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "predictions.json").read_text())
    assert document["images"][0]["width"] == 70 and document["model"]["backbone"] == "resnet50"
    result = runner.invoke(
        app,
        [
            *("predict", str(tmp_path / "photo.png"), "--model", f"models:/{NAME}@gone"),
            *("--out", str(out), "-p", str(params)),
        ],
    )
    assert result.exit_code == 2 and "no alias 'gone'" in result.output


# --------------------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/invocations", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations(
    store: dict[str, Any], registered: Any, pyfunc: Any, tmp_path: Path
):
    """`mlflow models serve -m models:/landslide-maskrcnn@champion --env-manager local`."""
    port = free_port()
    bin_dir = Path(sys.executable).parent  # `mlflow models serve` runs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store["uri"],
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = (tmp_path / "serve.log").open("w")
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{NAME}@champion"]
    command += ["--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start in 180 s"
            time.sleep(0.5)

        png = b64(photo_bytes(80, 60))
        good = json.dumps(
            {"dataframe_split": {"columns": ["image", "threshold"], "data": [[png, 0.0]]}}
        ).encode()
        status, body = post(base, good)
        assert status == 200, body
        frame = pd.DataFrame({"image": [png], "threshold": [0.0]})
        assert body["predictions"] == json.loads(json.dumps(pyfunc.predict(frame)))
        assert body["predictions"][0]["width"] == 80

        status, body = post(base, b"{not json")
        assert status == 400 and "valid JSON" in body["message"]
        not_image = {"dataframe_records": [{"image": b64(b"%PDF-1.7 not a photo")}]}
        status, body = post(base, json.dumps(not_image).encode())
        assert status == 400 and "row 0: 'image' is not an image" in body["message"]
        status, body = post(base, json.dumps({"inputs": {"image": ["@@@"]}}).encode())
        assert status == 400 and "is not base64" in body["message"]

        status, body = post(base, json.dumps({"inputs": {"image": [png]}}).encode())
        assert status == 200 and body["predictions"][0]["threshold"] == 0.8  # still serving
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
