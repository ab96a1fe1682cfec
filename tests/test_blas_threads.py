"""numpy's BLAS stays on one thread while procrop works on a photo (:func:`procrop.threads.one_blas_thread`).

OpenBLAS's idle worker busy-waits after each of procrop's small matrix products; on a 2-core
machine it held a whole core for as long as a photo took. The limit is process-wide while any photo
is worked on and lifted after the last one.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from procrop.cropper import Cropper
from procrop.threads import one_blas_thread


def blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture()
def two_blas_threads():
    """Skips where numpy's BLAS runs one thread anyway (a one-core machine) or is not visible. (The
    limit is not set here: OpenBLAS ignores a limit set in another thread after the main thread
    set one.)"""
    if max(blas_threads(), default=1) < 2:
        pytest.skip("numpy's BLAS here runs one thread anyway, or threadpoolctl cannot see it")


def test_one_thread_inside_restored_after_nested_or_not(two_blas_threads) -> None:
    before = blas_threads()
    with one_blas_thread():
        assert set(blas_threads()) == {1}
        with one_blas_thread():  # a photo's prepare() inside process(), or a second photo's thread
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {1}  # still a photo being worked on
    assert blas_threads() == before


def test_concurrent_photos_share_the_limit_until_the_last_one_ends(two_blas_threads) -> None:
    before = blas_threads()
    entered, done = threading.Event(), threading.Event()

    def photo() -> None:
        with one_blas_thread():
            entered.set()
        done.set()

    with one_blas_thread():
        other = threading.Thread(target=photo)
        other.start()
        assert entered.wait(5) and done.wait(5)  # another photo started and ended meanwhile
        assert set(blas_threads()) == {1}  # this one still holds the limit
        other.join(5)
    assert blas_threads() == before


def test_the_cropper_works_under_the_limit_and_lifts_it(two_blas_threads, tmp_path) -> None:
    before = blas_threads()
    cropper = Cropper(scorer="classic", reference_db=None)
    seen: list[list[int]] = []
    original = cropper.analyzer.analyze

    def watched(*args, **kwargs):
        seen.append(blas_threads())
        return original(*args, **kwargs)

    cropper.analyzer.analyze = watched  # type: ignore[method-assign]
    pixels = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    assert cropper.crop(pixels, ratios="1:1", top_k=1)
    cropper.prepare(pixels)
    assert seen == [[1] * len(before)] * 2
    assert blas_threads() == before
