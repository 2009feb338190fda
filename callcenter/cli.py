"""The `callcenter` console command: one Flask CLI group for every operator task."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import FlaskGroup

from back_office.policy import PolicyError
from config.permissions import PermissionsError
from config.settings import SettingsError
from ivr_menus.loader import MenuError
from work_orders.rules import RulesError
from work_orders.sla_policy import SlaPolicyError


def _create_app() -> Flask:
    from callcenter.app import create_app

    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    help="Operate the call centre: run the stack, migrate, seed, check menus, place test calls.",
)


def _register() -> None:
    from flask.cli import routes_command, shell_command

    from callcenter.commands.access import access_group
    from callcenter.commands.agents import agents_group
    from callcenter.commands.back_office import rma_group
    from callcenter.commands.db import db_group
    from callcenter.commands.menus import menus_group
    from callcenter.commands.middle_office import middle_office_group
    from callcenter.commands.phone import answer_command, call_command, phone_network_command
    from callcenter.commands.queues import queues_group
    from callcenter.commands.recordings import recordings_group
    from callcenter.commands.return_policy import return_policy_group
    from callcenter.commands.seed import seed_demo_command
    from callcenter.commands.settings import settings_command
    from callcenter.commands.sla import sla_check
    from callcenter.commands.work_orders import work_orders_group
    from callcenter.stack import cron_command, run_command, worker_command

    for command in (
        db_group,
        menus_group,
        agents_group,
        queues_group,
        seed_demo_command,
        settings_command,
        recordings_group,
        answer_command,
        call_command,
        phone_network_command,
        run_command,
        worker_command,
        cron_command,
        shell_command,
        routes_command,
        middle_office_group,
        access_group,
        return_policy_group,
        rma_group,
        work_orders_group,
    ):
        cli.add_command(command)
    work_orders_group.add_command(sla_check)  # `callcenter work-orders sla-check [PATH]`


def main() -> None:
    _register()
    try:
        cli.main(prog_name="callcenter")
    except (
        SettingsError, MenuError, PermissionsError, PolicyError, RulesError, SlaPolicyError
    ) as exc:
        # Raised building the app: a bad setting, menu, permission, return policy, work
        # order rules or SLA policy file.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
