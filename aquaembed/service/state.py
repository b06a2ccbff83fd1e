"""What one service process holds while it runs: settings, the workspace, the image cache."""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from aquaembed.explore import Workspace
from aquaembed.service.settings import Settings

__all__ = ["AppState", "CachedImage", "ImageCache"]


@dataclass(frozen=True)
class CachedImage:
    """A rendered image and its entity tag.

    Attributes
    ----------
    data : bytes
        The encoded image.
    media_type : str
        ``image/jpeg``.
    etag : str
        Quoted strong entity tag (a hash of the bytes).
    """

    data: bytes
    media_type: str
    etag: str


class ImageCache:
    """A thread-safe LRU of rendered images, bounded by their total size in bytes.

    Parameters
    ----------
    max_bytes : int
        Total size kept; an image larger than this is served but not kept.

    Notes
    -----
    Two threads asking for the same missing key may both render it; both get a
    correct image and the cache keeps one. Keys hold every parameter that changes the
    picture, so requests with different parameters never share an entry.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, CachedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, render: Callable[[], bytes], media_type: str = "image/jpeg") -> CachedImage:
        """The cached image of ``key``, rendering it with ``render()`` on a miss."""
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        data = bytes(render())
        image = CachedImage(data, media_type, '"' + hashlib.blake2b(data, digest_size=16).hexdigest() + '"')
        if len(data) > self.max_bytes:
            return image
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._data[key] = image
            self._bytes += len(data)
            while self._bytes > self.max_bytes and self._data:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= len(dropped.data)
        return image

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        """Total size of the cached images, bytes."""
        return self._bytes


@dataclass
class AppState:
    """The state the lifespan builds and the dependencies hand to the routes.

    Attributes
    ----------
    settings : Settings
    workspace : Workspace
        The datasets of ``settings.data_dir``.
    images : ImageCache
    renderer : module or object, optional
        What draws the images: ``frame_image(view, frame_id, **options)`` and
        ``crop_image(view, crop_id, **options)`` returning JPEG bytes; default
        :mod:`aquaembed.render` (imported with the first picture: Pillow loads then).
    """

    settings: Settings
    workspace: Workspace
    renderer: Any = None
    images: ImageCache = field(init=False)

    def __post_init__(self) -> None:
        self.images = ImageCache(self.settings.image_cache_bytes)

    def render(self) -> Any:
        """The renderer (see ``renderer``)."""
        if self.renderer is None:
            self.renderer = importlib.import_module("aquaembed.render")
        return self.renderer
