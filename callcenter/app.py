"""The application factory: settings → Runtime → Flask app with its blueprints."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from callcenter import security
from callcenter.runtime import Runtime
from config.settings import Settings


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> Flask:
    """Build the app. A bad setting, menu, permission, return policy or work order rules file
    raises here, so start-up stops with the reason."""
    if runtime is None:
        settings = settings or Settings.from_env(os.environ)
        runtime = Runtime.build(settings)
    settings = runtime.settings
    from callcenter.desk.auth import AGENT_KEY
    from callcenter.logs import configure_logging, install_request_context
    from callcenter.metrics import install_request_timing

    configure_logging(settings)

    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config["SECRET_KEY"] = settings.effective_secret_key
    app.extensions["callcenter"] = runtime
    security.init_app(app, settings)
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=settings.proxy_count,
            x_proto=settings.proxy_count,
            x_host=settings.proxy_count,
            x_prefix=settings.proxy_count,
        )

    from callcenter.access import check_declared
    from callcenter.back_office.api import bp as rma_api_bp
    from callcenter.back_office.console import bp as back_office_bp
    from callcenter.desk.views import bp as desk_bp
    from callcenter.health import bp as health_bp
    from callcenter.media import bp as media_bp
    from callcenter.metrics import bp as metrics_bp
    from callcenter.middle_office.api import bp as order_api_bp
    from callcenter.middle_office.console import bp as middle_office_bp
    from callcenter.middle_office.twilio import bp as outbound_calls_bp
    from callcenter.replay.views import bp as recordings_bp
    from callcenter.reports.views import bp as reports_bp
    from callcenter.supervisor.views import bp as supervisor_bp
    from callcenter.voice import connect_views  # noqa: F401  (its routes join the voice blueprint)
    from callcenter.voice.views import bp as voice_bp

    app.register_blueprint(desk_bp)
    install_request_context(app, agent_key=AGENT_KEY)
    install_request_timing(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(media_bp)
    app.register_blueprint(supervisor_bp)
    app.register_blueprint(recordings_bp)
    app.register_blueprint(voice_bp)
    app.register_blueprint(middle_office_bp)
    app.register_blueprint(outbound_calls_bp)
    app.register_blueprint(order_api_bp)
    app.register_blueprint(rma_api_bp)
    app.register_blueprint(back_office_bp)
    app.register_blueprint(reports_bp)
    check_declared(app, runtime.permissions)  # a bad permission file stops start-up here
    runtime.return_policy  # noqa: B018  (a bad return policy file stops start-up here)
    runtime.sla_policies  # noqa: B018  (a bad SLA policy file stops start-up here)
    runtime.work_order_rules  # noqa: B018  (a bad work order rules file stops start-up here)
    return app
