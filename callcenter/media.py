"""Audio the app serves itself (hold music), fetched by Twilio's <Play> with a plain GET."""

from __future__ import annotations

import hashlib
from functools import cache

from flask import Blueprint, Response, request

from recordings.music import hold_music

bp = Blueprint("media", __name__, url_prefix="/media")


@cache
def _etag() -> str:
    return hashlib.sha256(hold_music()).hexdigest()[:16]


@bp.get("/hold-music.wav")
def hold_music_wav() -> Response:
    if request.if_none_match.contains(_etag()):
        return Response(status=304)
    response = Response(hold_music(), mimetype="audio/wav")
    response.set_etag(_etag())
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
