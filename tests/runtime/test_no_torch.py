"""The runtime must run without torch: importing all of it (and starting its service) pulls none in."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import vaf.runtime.client, vaf.runtime.server, vaf.runtime.service, vaf.runtime.cli
from vaf.runtime.scenes import SceneCatalog
from vaf.runtime.service import Service
s = Service(SceneCatalog(['demo']))
list(s.handle(b'\\x83\\xa1v\\x01\\xa2op\\xa5hello\\xa2id\\x01'))
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchaudio', 'torchvision', 'trimesh', 'pybullet'))
print(','.join(bad))
"""


def test_runtime_imports_no_torch():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
