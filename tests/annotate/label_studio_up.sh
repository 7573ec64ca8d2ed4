#!/usr/bin/env bash
# Install the Label Studio server into its own venv (default .venv-labelstudio at the repository
# root; ADASEG_LABEL_STUDIO_VENV overrides), from tests/annotate/requirements-server.txt. Its pins
# conflict with the project's, so it cannot share the project venv. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${ADASEG_LABEL_STUDIO_VENV:-$here/../../.venv-labelstudio}"
if [ ! -x "$venv/bin/label-studio" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements-server.txt"
fi
echo "label-studio $("$venv/bin/python" -c "import label_studio; print(label_studio.__version__)") in $venv"
