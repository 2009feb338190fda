"""Demo agents: a small Yintai-style floor with the seven posts, and the departments.

Twenty-three accounts. The three rotating posts: eight agents at the front desk with mixed
skills and languages (one also rotates to the back office), two in the middle office (one also
takes front-desk shifts), two in the back office. The four fixed posts: a floor supervisor and
a team lead of front-b (who also take calls), a team lead of front-a, QC staff and the centre's
manager. And one user for each department a work order can be passed to (after-sales A and B,
logistics, finance, merchandising, technical), in a team named after it. Every skill is one
the shipped queue file asks for. Each logs in with the password "demo"; all start offline.
What each post may do is in config/permissions.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Language
from queues.models import Actor, Agent, Post, Role
from queues.passwords import hash_password
from queues.presence import create_agent

DEMO_PASSWORD = "demo"  # noqa: S105  (the published demo login, not a secret)
ZH, EN = Language.ZH, Language.EN
FRONT, MIDDLE, BACK = Post.FRONT_DESK, Post.MIDDLE_OFFICE, Post.BACK_OFFICE
DEPT = Role.DEPARTMENT


@dataclass(frozen=True, slots=True)
class DemoAgent:
    login: str
    name: str
    posts: tuple[Post, ...]
    skills: dict[str, int]
    languages: tuple[Language, ...]
    team: str
    phone: str | None = None  # rings this number when not at a browser desk
    roles: tuple[Role, ...] = ()


DEMO_AGENTS: tuple[DemoAgent, ...] = (
    DemoAgent(
        "li.na", "李娜", (FRONT,), {"general": 4, "presales": 3, "orders": 3}, (ZH,), "front-a"
    ),
    DemoAgent(
        "zhang.wei",
        "张伟",
        (FRONT,),
        {"aftersales": 5, "complaints": 4, "general": 3},
        (ZH,),
        "front-a",
    ),
    DemoAgent(
        "wang.lei",
        "王磊",
        (FRONT,),
        {"orders": 4, "general": 3},
        (ZH,),
        "front-a",
        "+8613900139003",
    ),
    DemoAgent("chen.jing", "陈静", (FRONT,), {"presales": 5, "general": 4}, (ZH, EN), "front-b"),
    DemoAgent(
        "liu.yang",
        "刘洋",
        (FRONT,),
        {"complaints": 5, "aftersales": 3, "general": 3},
        (ZH,),
        "front-b",
    ),
    DemoAgent(
        "zhao.min",
        "赵敏",
        (FRONT,),
        {"general": 5, "presales": 4, "orders": 4, "aftersales": 3, "complaints": 3},
        (ZH, EN),
        "front-b",
    ),
    DemoAgent(
        "emily.zhou",
        "Emily Zhou",
        (FRONT,),
        {"general": 4, "presales": 3, "aftersales": 3},
        (EN, ZH),
        "front-b",
    ),
    DemoAgent(
        "sun.hao",
        "孙浩",
        (FRONT, BACK),
        {"aftersales": 4, "general": 3, "orders": 3},
        (ZH,),
        "front-a",
        "+8613900139008",
    ),
    DemoAgent("huang.li", "黄丽", (MIDDLE,), {"orders": 4}, (ZH,), "middle"),
    DemoAgent("zhou.qiang", "周强", (MIDDLE, FRONT), {"orders": 3, "general": 3}, (ZH,), "middle"),
    DemoAgent("wu.fang", "吴芳", (BACK,), {"aftersales": 4, "returns": 4}, (ZH,), "back"),
    DemoAgent(
        "xu.tao",
        "徐涛",
        (BACK,),
        {"aftersales": 3, "complaints": 2, "returns": 3},
        (ZH, EN),
        "back",
    ),
    # Staff beyond the desk: a floor supervisor and a team lead (who also take calls), QC
    # staff and the centre's manager.
    DemoAgent(
        "ma.chao", "马超", (FRONT,), {"general": 5}, (ZH, EN), "front-a", roles=(Role.SUPERVISOR,)
    ),
    DemoAgent(
        "he.jing", "何静", (FRONT,), {"general": 4}, (ZH,), "front-b", roles=(Role.TEAM_LEAD,)
    ),
    DemoAgent("zheng.xue", "郑雪", (), {}, (ZH,), "qc", roles=(Role.QC,)),
    DemoAgent("feng.min", "冯敏", (), {}, (ZH, EN), "management", roles=(Role.MANAGER,)),
    DemoAgent("qin.hui", "秦慧", (), {}, (ZH,), "front-a", roles=(Role.TEAM_LEAD,)),
    # The departments that answer work orders (the team is the department).
    DemoAgent("gao.yan", "高燕", (), {}, (ZH,), "aftersales-a", roles=(DEPT,)),
    DemoAgent("lin.feng", "林峰", (), {}, (ZH,), "aftersales-b", roles=(DEPT,)),
    DemoAgent("tang.jun", "唐军", (), {}, (ZH,), "logistics", roles=(DEPT,)),
    DemoAgent("qian.li", "钱莉", (), {}, (ZH,), "finance", roles=(DEPT,)),
    DemoAgent("song.yu", "宋雨", (), {}, (ZH,), "merchandising", roles=(DEPT,)),
    DemoAgent("xie.bo", "谢波", (), {}, (ZH, EN), "technical", roles=(DEPT,)),
)


@dataclass(frozen=True, slots=True)
class AgentSeedSummary:
    agents: int
    created: bool


def seed_agents(session: Session, *, now: datetime) -> AgentSeedSummary:
    """Add the demo agents (offline, password "demo"), each with its "created" event.

    Transaction contract: adds and flushes, never commits. Idempotent: a demo login that
    already exists is left as it is, so a second run adds nothing (`created=False`) and a run
    on an older demo database adds only the accounts it lacks. The password is hashed once
    and the hash shared: the demo password is public anyway, and twenty scrypt runs would
    cost a second of every seed.
    """
    if now.tzinfo is None:
        raise ValueError("seed_agents needs a timezone-aware `now`")
    logins = [demo.login for demo in DEMO_AGENTS]
    taken = set(session.scalars(select(Agent.login).where(Agent.login.in_(logins))))
    missing = [demo for demo in DEMO_AGENTS if demo.login not in taken]
    if not missing:
        return AgentSeedSummary(agents=0, created=False)
    shared_hash = hash_password(DEMO_PASSWORD)
    for demo in missing:
        agent = create_agent(
            session,
            login=demo.login,
            display_name=demo.name,
            posts=demo.posts,
            skills=demo.skills,
            languages=demo.languages,
            team=demo.team,
            phone_e164=demo.phone,
            now=now,
            actor=Actor.SYSTEM,
            roles=demo.roles,
        )
        agent.password_hash = shared_hash
    session.flush()
    return AgentSeedSummary(agents=len(missing), created=True)
