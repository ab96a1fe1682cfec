"""Weak-label data generation (ProCrop's composition-aware data set): out-paint professional
photos onto wider canvases, keep the photographer's frame as the pseudo-label, and refine diverse
crop proposals around it. See :mod:`procrop.weaklabels.driver` for the layout and guarantees."""

from .canvas import CanvasSpec, sample_canvas
from .driver import GenerateParams, GenerateReport, dataset_info, generate_dataset, preview_sheet
from .outpaint import ClassicalOutpainter, DiffusersOutpainter, create_outpainter
from .proposals import CropperScorer, NeuralScorer, weak_labels
from .seam import seam_report

__all__ = [
    "CanvasSpec",
    "ClassicalOutpainter",
    "CropperScorer",
    "DiffusersOutpainter",
    "GenerateParams",
    "GenerateReport",
    "NeuralScorer",
    "create_outpainter",
    "dataset_info",
    "generate_dataset",
    "preview_sheet",
    "sample_canvas",
    "seam_report",
    "weak_labels",
]
