"""``serve --tls-cert --tls-key``: HTTPS with the user's own certificate (here a self-signed one made by
the ``openssl`` command), trusted by the client; a certificate that cannot be used is one line."""

from __future__ import annotations

import base64

import pytest
import requests

from tests.helpers.cli import run_user_error
from tests.helpers.serve import running_server, self_signed
from wuerstchen_desktop.core.imagefile.read import read_record


def test_https_with_a_certificate_the_client_trusts(prior_dir, decoder_dir, tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    with running_server(prior_dir, decoder_dir, tmp_path / "out", tls=(cert, key)) as server:
        assert server.scheme == "https"
        base = f"https://127.0.0.1:{server.port}"
        models = requests.get(f"{base}/sdapi/v1/sd-models", verify=str(cert), timeout=60)
        assert models.status_code == 200 and models.json()[0]["model_name"] == prior_dir.name
        body = {"prompt": "a cat", "width": 256, "height": 256, "seed": 1, "prior_steps": 2}
        composed = requests.post(f"{base}/wuerstchen/v1/compose", json=body, verify=str(cert), timeout=300)
        assert composed.status_code == 200
        path = tmp_path / "answer.png"
        path.write_bytes(base64.b64decode(composed.json()["files"][0]["file"]))
        assert read_record(path).kind == "composition"
        with pytest.raises(requests.exceptions.SSLError):  # a client that does not trust it refuses it
            requests.get(f"{base}/sdapi/v1/sd-models", timeout=60)
        with pytest.raises(requests.exceptions.ConnectionError):  # and plain HTTP is not spoken
            requests.get(f"http://127.0.0.1:{server.port}/sdapi/v1/sd-models", timeout=60)


@pytest.mark.parametrize("which", ["missing", "half", "mismatched"])
def test_a_certificate_that_cannot_be_used_is_one_line(
    prior_dir, decoder_dir, tmp_path, capsys, which
) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    _, other = self_signed(tmp_path / "other")
    args = {
        "missing": ["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key)],
        "half": ["--tls-cert", str(cert)],
        "mismatched": ["--tls-cert", str(cert), "--tls-key", str(other)],
    }[which]
    argv = ["serve", "--port", "0", "--prior", str(prior_dir), "--decoder", str(decoder_dir), *args]
    line = run_user_error(capsys, [*argv, "--out", str(tmp_path / "out")])
    if which == "half":
        assert line == "Error: HTTPS needs both --tls-cert and --tls-key. Give the certificate and its key."
    else:
        assert line.startswith("Error: The certificate ") and "cannot be used: " in line
        assert line.endswith(
            "Give a PEM certificate and the private key that goes with it (not protected by a passphrase)."
        )
    assert not (tmp_path / "out").exists()  # said before anything was made
