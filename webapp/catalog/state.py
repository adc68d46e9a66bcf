"""Rules for an environment's recorded deployed state."""

from __future__ import annotations

from webapp.models import DeployedImage, EnvironmentService


def set_deployed_images(state: EnvironmentService, images: dict[str, str]) -> None:
    """Make ``state.images`` match ``{container: image}``, updating rows in place."""
    existing = {image.container: image for image in state.images}
    for container, image in existing.items():
        if container not in images:
            state.images.remove(image)
    for container, ref in images.items():
        if container in existing:
            existing[container].image = ref
        else:
            state.images.append(DeployedImage(container=container, image=ref))
