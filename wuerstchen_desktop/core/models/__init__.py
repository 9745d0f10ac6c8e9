"""The three Würstchen stages, one file each over shared blocks, and the Stage C previewer."""

from wuerstchen_desktop.core.models.config import StageAConfig, StageBConfig, StageCConfig
from wuerstchen_desktop.core.models.preview_net import Previewer
from wuerstchen_desktop.core.models.stage_a import StageA
from wuerstchen_desktop.core.models.stage_b import StageB
from wuerstchen_desktop.core.models.stage_c import StageC

__all__ = ["Previewer", "StageA", "StageAConfig", "StageB", "StageBConfig", "StageC", "StageCConfig"]
