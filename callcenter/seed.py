"""Deterministic demo data for the hotline: customers, phones, orders and RMAs of a luxury store.

`seed_demo` fills an empty database with about forty customers of a Yintai-style luxury
department store, their orders (every status, including the three kinds of special order the
middle office reviews), their return/exchange requests (every RMA status, for the back office,
each on its order line with a reason code and, once past "awaiting inspection", the warehouse's
inspection) and the catalogue of every product sold (category and stock). A handful of
well-known customers have fixed values, exported below, so the README, the tests and a demo
caller can name them; everyone else comes from `random.Random(seed)`, so the same `seed` and
`now` always give the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from back_office import catalogue
from back_office.models import CatalogueItem, Inspection
from core.models import (
    Customer,
    CustomerPhone,
    Language,
    Order,
    OrderItem,
    OrderStatus,
    PaymentType,
    Rma,
    RmaKind,
    RmaReason,
    RmaStatus,
    Tier,
)

__all__ = [
    "DEMO_CUSTOMERS",
    "DEMO_DUPLICATE_ACCOUNT",
    "DEMO_DUPLICATE_DELIVERED_ORDER",
    "DEMO_DUPLICATE_NAME",
    "DEMO_DUPLICATE_ORDERS",
    "DEMO_DUPLICATE_PHONE",
    "DEMO_EN_ACCOUNT",
    "DEMO_EN_APPROVED_ORDER",
    "DEMO_EN_CANCELLED_ORDER",
    "DEMO_EN_DELIVERED_ORDER",
    "DEMO_EN_NAME",
    "DEMO_EN_PHONE",
    "DEMO_EN_RMA",
    "DEMO_HIGH_VALUE_THRESHOLD_FEN",
    "DEMO_NEW_ACCOUNT",
    "DEMO_NEW_NAME",
    "DEMO_NEW_ORDER",
    "DEMO_NEW_PHONE",
    "DEMO_OUT_OF_STOCK_SKUS",
    "DEMO_RETURNING_ACCOUNT",
    "DEMO_RETURNING_DELIVERED_ORDER",
    "DEMO_RETURNING_INCOMPLETE_ORDER",
    "DEMO_RETURNING_NAME",
    "DEMO_RETURNING_PHONE",
    "DEMO_VIP_ACCOUNT",
    "DEMO_VIP_DELIVERED_ORDER",
    "DEMO_VIP_HIGH_VALUE_ORDER",
    "DEMO_VIP_HOME_PHONE",
    "DEMO_VIP_NAME",
    "DEMO_VIP_PHONE",
    "DEMO_VIP_RMA",
    "DEMO_VIP_SHIPPED_ORDER",
    "POLICY_CATEGORY",
    "DemoCustomer",
    "SeedSummary",
    "seed_demo",
]

# --- Well-known demo customers -------------------------------------------------------------

# 王芳, VIP, Mandarin: a shipped order (her most recent), a delivered one with a return being
# refunded, and a 17,800 CNY watch waiting for the middle office.
DEMO_VIP_NAME = "王芳"
DEMO_VIP_PHONE = "+8613800138000"
DEMO_VIP_HOME_PHONE = "+861065138000"
DEMO_VIP_ACCOUNT = "60000001"
DEMO_VIP_SHIPPED_ORDER = "2000000011"
DEMO_VIP_DELIVERED_ORDER = "2000000012"
DEMO_VIP_HIGH_VALUE_ORDER = "2000000013"
DEMO_VIP_RMA = "80000001"

# Emily Chen, VIP, English: a delivered order with a shoe-size exchange just filed, an approved
# order waiting to ship, and an old cancelled one.
DEMO_EN_NAME = "Emily Chen"
DEMO_EN_PHONE = "+8613700137000"
DEMO_EN_ACCOUNT = "60000002"
DEMO_EN_DELIVERED_ORDER = "2000000021"
DEMO_EN_APPROVED_ORDER = "2000000022"
DEMO_EN_CANCELLED_ORDER = "2000000023"
DEMO_EN_RMA = "80000002"

# 李伟, returning, Mandarin: an order with no delivery address waiting for the middle office.
DEMO_RETURNING_NAME = "李伟"
DEMO_RETURNING_PHONE = "+8613900139000"
DEMO_RETURNING_ACCOUNT = "60000003"
DEMO_RETURNING_INCOMPLETE_ORDER = "2000000031"
DEMO_RETURNING_DELIVERED_ORDER = "2000000032"

# 张敏, new, Mandarin: a single cash-on-delivery order on its way.
DEMO_NEW_NAME = "张敏"
DEMO_NEW_PHONE = "+8618600186000"
DEMO_NEW_ACCOUNT = "60000004"
DEMO_NEW_ORDER = "2000000041"

# 刘洋, returning, Mandarin: the same order placed twice 95 seconds apart, both held for review.
DEMO_DUPLICATE_NAME = "刘洋"
DEMO_DUPLICATE_PHONE = "+8615900159000"
DEMO_DUPLICATE_ACCOUNT = "60000005"
DEMO_DUPLICATE_ORDERS = ("2000000051", "2000000052")
DEMO_DUPLICATE_DELIVERED_ORDER = "2000000053"

# Sold out in the demo catalogue (every other SKU is in stock): an exchange to one of these is
# refused at review and offered as a return instead.
DEMO_OUT_OF_STOCK_SKUS = ("SHO-505101-39", "SHO-505118-37", "WAT-202530", "MEN-707118-50")

# The middle office reviews orders above this amount (DOMAIN.md: 2,000 CNY); the data set is
# built around it, the review rules themselves live elsewhere.
DEMO_HIGH_VALUE_THRESHOLD_FEN = 2_000_00


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    """A well-known demo customer, as the README and the tests name them."""

    name: str
    phone: str
    account: str
    tier: Tier
    language: Language
    orders: tuple[str, ...]
    rmas: tuple[str, ...] = ()


DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        DEMO_VIP_NAME,
        DEMO_VIP_PHONE,
        DEMO_VIP_ACCOUNT,
        Tier.VIP,
        Language.ZH,
        (DEMO_VIP_SHIPPED_ORDER, DEMO_VIP_DELIVERED_ORDER, DEMO_VIP_HIGH_VALUE_ORDER),
        (DEMO_VIP_RMA,),
    ),
    DemoCustomer(
        DEMO_EN_NAME,
        DEMO_EN_PHONE,
        DEMO_EN_ACCOUNT,
        Tier.VIP,
        Language.EN,
        (DEMO_EN_DELIVERED_ORDER, DEMO_EN_APPROVED_ORDER, DEMO_EN_CANCELLED_ORDER),
        (DEMO_EN_RMA,),
    ),
    DemoCustomer(
        DEMO_RETURNING_NAME,
        DEMO_RETURNING_PHONE,
        DEMO_RETURNING_ACCOUNT,
        Tier.RETURNING,
        Language.ZH,
        (DEMO_RETURNING_INCOMPLETE_ORDER, DEMO_RETURNING_DELIVERED_ORDER),
    ),
    DemoCustomer(
        DEMO_NEW_NAME, DEMO_NEW_PHONE, DEMO_NEW_ACCOUNT, Tier.NEW, Language.ZH, (DEMO_NEW_ORDER,)
    ),
    DemoCustomer(
        DEMO_DUPLICATE_NAME,
        DEMO_DUPLICATE_PHONE,
        DEMO_DUPLICATE_ACCOUNT,
        Tier.RETURNING,
        Language.ZH,
        (*DEMO_DUPLICATE_ORDERS, DEMO_DUPLICATE_DELIVERED_ORDER),
    ),
)


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What `seed_demo` created; all counts are zero when the demo data was already there."""

    customers: int
    phones: int
    orders: int
    items: int
    rmas: int
    created: bool
    inspections: int = 0
    catalogue: int = 0  # catalogue items created (those already there are kept)

    def describe(self) -> str:
        """One line for a CLI or a log."""
        if not self.created:
            return "Demo data already present; nothing created."
        return (
            f"Created {self.customers} customers, {self.phones} phone numbers, "
            f"{self.orders} orders with {self.items} items, {self.rmas} RMA requests with "
            f"{self.inspections} inspections, and {self.catalogue} catalogue items."
        )


def seed_demo(session: Session, *, now: datetime, seed: int = 2026) -> SeedSummary:
    """Add the demo data set to `session`, with every timestamp relative to `now`.

    Transaction contract: adds and flushes, never commits; the caller's unit of work commits.
    Idempotent: when the first well-known account (`DEMO_VIP_ACCOUNT`) already exists nothing
    is added and the summary says `created=False`. Deterministic: the same `seed` and `now`
    give identical rows in an empty database. Generated numbers avoid those already stored;
    the well-known fixed numbers do not, so seeding a database that holds them under another
    account fails on the unique constraints at flush.
    """
    if now.tzinfo is None:
        raise ValueError("seed_demo needs a timezone-aware `now`")
    existing = session.scalar(
        select(Customer.id).where(Customer.account_number == DEMO_VIP_ACCOUNT)
    )
    if existing is not None:
        return SeedSummary(customers=0, phones=0, orders=0, items=0, rmas=0, created=False)

    builder = _Builder(
        random.Random(seed), now.astimezone(UTC).replace(microsecond=0), _Taken.load(session)
    )
    builder.build_well_known()
    builder.build_crowd()
    for rows in (builder.customers, builder.phones, builder.orders, builder.items, builder.rmas):
        session.add_all(rows)
    session.flush()
    inspections = builder.link_rmas()
    session.add_all(inspections)
    known = set(session.scalars(select(CatalogueItem.sku)))
    missing = [i for i in catalogue_items() if i.sku not in known]
    stocked = catalogue.upsert_items(session, missing, now=builder.now)
    session.flush()
    return SeedSummary(
        customers=len(builder.customers),
        phones=len(builder.phones),
        orders=len(builder.orders),
        items=len(builder.items),
        rmas=len(builder.rmas),
        created=True,
        inspections=len(inspections),
        catalogue=stocked.created,
    )


# --- Catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Product:
    sku: str
    name: str
    price_fen: int
    category: str
    sizes: tuple[str, ...] = ()


_WOMEN_SIZES = ("35", "36", "37", "38", "39")
_MEN_SHOE_SIZES = ("39", "40", "41", "42", "43", "44")
_SUIT_SIZES = ("46", "48", "50", "52")

_CATALOGUE: tuple[_Product, ...] = (
    _Product("BAG-101201", "COACH 蔻驰 Tabby 26 牛皮单肩包 黑色", 3_950_00, "bag"),
    _Product("BAG-101305", "MICHAEL KORS 迈克高仕 Jet Set 大号托特包 棕色老花", 2_680_00, "bag"),
    _Product("BAG-101412", "FURLA 芙拉 Metropolis 迷你链条包 奶白色", 2_390_00, "bag"),
    _Product("BAG-101520", "LONGCHAMP 珑骧 Le Pliage 长柄饺子包 中号 藏青色", 1_050_00, "bag"),
    _Product("BAG-101633", "TORY BURCH 汤丽柏琦 Kira 绗缝羊皮斜挎包", 4_580_00, "bag"),
    _Product("WAT-202110", "LONGINES 浪琴 名匠系列 自动机械男表 38.5mm", 17_800_00, "watch"),
    _Product("WAT-202215", "TISSOT 天梭 力洛克系列 自动机械男表 钢带", 5_350_00, "watch"),
    _Product("WAT-202318", "SEIKO 精工 Presage 鸡尾酒系列 自动机械表", 3_600_00, "watch"),
    _Product("WAT-202420", "TISSOT 天梭 小美人系列 石英女表 玫瑰金", 3_150_00, "watch"),
    _Product("WAT-202530", "OMEGA 欧米茄 碟飞系列 自动机械女表 27.4mm", 42_600_00, "watch"),
    _Product("COS-303101", "兰蔻 小黑瓶精华肌底液 50ml", 1_080_00, "cosmetics"),
    _Product("COS-303112", "雅诗兰黛 特润修护肌活精华露(小棕瓶) 50ml", 950_00, "cosmetics"),
    _Product("COS-303120", "SK-II 护肤精华露(神仙水) 230ml", 1_690_00, "cosmetics"),
    _Product("COS-303135", "海蓝之谜 精华面霜 60ml", 2_900_00, "cosmetics"),
    _Product("COS-303142", "资生堂 红妍肌活精华露(红腰子) 50ml", 790_00, "cosmetics"),
    _Product("COS-303158", "迪奥 烈艳蓝金唇膏 #999", 350_00, "cosmetics"),
    _Product("COS-303166", "香奈儿 可可小姐淡香水 50ml", 1_150_00, "cosmetics"),
    _Product("SLK-404101", "万事利 桑蚕丝方巾 90×90cm 西湖十景", 1_280_00, "scarf"),
    _Product("SLK-404115", "万事利 真丝小方巾 53×53cm 牡丹", 598_00, "scarf"),
    _Product("SLK-404122", "上海故事 桑蚕丝长巾 水墨印花", 468_00, "scarf"),
    _Product("SLK-404130", "BURBERRY 博柏利 经典格纹羊绒围巾", 4_250_00, "scarf"),
    _Product(
        "SHO-505101", "STUART WEITZMAN 小羊皮尖头高跟鞋 75mm 黑色", 3_980_00, "shoes", _WOMEN_SIZES
    ),
    _Product("SHO-505118", "百丽 真皮一字带凉鞋 米白色", 899_00, "shoes", _WOMEN_SIZES),
    _Product("SHO-505125", "CLARKS 其乐 男士真皮德比鞋 深棕", 1_290_00, "shoes", _MEN_SHOE_SIZES),
    _Product("SHO-505133", "ECCO 爱步 女士真皮乐福鞋 焦糖色", 1_899_00, "shoes", _WOMEN_SIZES),
    _Product("JWL-606101", "周大福 足金串珠手链 约5.2g", 4_380_00, "jewellery"),
    _Product("JWL-606112", "施华洛世奇 Millenia 八角形水晶项链", 1_190_00, "jewellery"),
    _Product("JWL-606120", "潘多拉 闪耀心形925银手链", 899_00, "jewellery"),
    _Product("MEN-707101", "DUNHILL 登喜路 男士真皮针扣腰带", 3_200_00, "menswear"),
    _Product("MEN-707110", "万事利 真丝提花领带 藏青", 680_00, "menswear"),
    _Product(
        "MEN-707118",
        "HUGO BOSS 雨果博斯 修身纯羊毛西装外套 深灰",
        6_990_00,
        "menswear",
        _SUIT_SIZES,
    ),
)
_BY_SKU = {p.sku: p for p in _CATALOGUE}

#: The return policy's category of each kind of goods (config/return_policy.toml): bags and
#: watches have no category of their own there, so the policy's default applies to them.
POLICY_CATEGORY = {
    "bag": "bags",
    "watch": "watches",
    "cosmetics": "cosmetics",
    "scarf": "apparel",
    "shoes": "shoes",
    "jewellery": "jewellery",
    "menswear": "apparel",
}


def catalogue_items() -> list[catalogue.ItemIn]:
    """Every SKU the demo sells (each size of a sized product), its policy category and a
    stock that is deterministic: none for DEMO_OUT_OF_STOCK_SKUS, 2 to 11 for the others."""
    items = []
    for product in _CATALOGUE:
        for size in product.sizes or ("",):
            sku = f"{product.sku}-{size}" if size else product.sku
            stock = 0 if sku in DEMO_OUT_OF_STOCK_SKUS else 2 + len(items) % 10
            name = f"{product.name} {size}码" if size else product.name
            items.append(catalogue.ItemIn(sku, name, POLICY_CATEGORY[product.category], stock))
    return items


#: The reason code of each kind of complaint the demo customers make (its words are kept as
#: the RMA's description); whether the customer opened the item follows from it.
_REASON_OF = {
    "质量问题": RmaReason.QUALITY_PROBLEM,
    "运输损坏": RmaReason.DAMAGED_IN_TRANSIT,
    "尺码不合适": RmaReason.WRONG_SIZE,
    "七天无理由退货": RmaReason.NO_LONGER_WANTED,
    "商品与描述不符": RmaReason.NOT_AS_DESCRIBED,
}
_OPENED = frozenset({RmaReason.QUALITY_PROBLEM, RmaReason.WRONG_SIZE, RmaReason.NOT_AS_DESCRIBED})
_FAILED_NOTES = "吊牌已拆，商品有明显使用痕迹，不符合退换条件"

# What goes wrong with each kind of goods: (quality problem, damage in transit, not as shown).
_FAULTS: dict[str, tuple[str, str, str]] = {
    "bag": ("五金件掉漆", "外包装破损，包身有压痕", "颜色与图片不一致"),
    "watch": ("走时误差过大", "表盒破损，表镜有划痕", "表盘颜色与图片不一致"),
    "cosmetics": ("泵头无法按压", "瓶身破裂渗漏", "生产日期与页面说明不符"),
    "scarf": ("丝巾边缘抽丝", "外盒受潮，丝巾有污渍", "花色与图片不一致"),
    "shoes": ("鞋跟松动", "鞋盒压坏，鞋面有折痕", "颜色与图片不一致"),
    "jewellery": ("搭扣松动", "首饰盒变形，链条打结", "克重与页面说明不符"),
    "menswear": ("面料起球", "外箱破损，衣物褶皱严重", "颜色与图片不一致"),
}

# --- Places ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _District:
    name: str
    street: str
    postal_code: str
    landline_prefix: str  # first two digits of the district's 8-digit landline numbers


@dataclass(frozen=True, slots=True)
class _City:
    province: str
    city: str
    area_code: str
    weight: int
    districts: tuple[_District, ...]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _districts(spec: str) -> tuple[_District, ...]:
    """Parse "district street postal landline-prefix; ..." into districts."""
    return tuple(_District(*part.split()) for part in spec.split(";"))


# fmt: off
_CITIES: tuple[_City, ...] = (
    _City("北京市", "北京市", "10", 4, _districts(
        "朝阳区 建国路 100022 65; 海淀区 中关村大街 100080 62;"
        "东城区 东四北大街 100007 64; 西城区 金融大街 100033 66")),
    _City("上海市", "上海市", "21", 4, _districts(
        "静安区 南京西路 200040 62; 浦东新区 世纪大道 200120 58;"
        "徐汇区 衡山路 200031 64; 长宁区 虹桥路 200336 62")),
    _City("浙江省", "杭州市", "571", 3, _districts(
        "西湖区 文三路 310012 88; 拱墅区 武林路 310006 85;"
        "滨江区 江南大道 310051 87; 上城区 延安路 310002 87")),
    _City("广东省", "广州市", "20", 2, _districts(
        "天河区 天河路 510620 38; 越秀区 中山五路 510030 83")),
    _City("广东省", "深圳市", "755", 2, _districts(
        "福田区 深南大道 518048 83; 南山区 科技园南路 518057 26")),
    _City("江苏省", "南京市", "25", 1, _districts(
        "鼓楼区 中山北路 210008 83; 玄武区 珠江路 210018 84")),
    _City("江苏省", "苏州市", "512", 1, _districts("姑苏区 观前街 215005 65")),
    _City("四川省", "成都市", "28", 1, _districts(
        "锦江区 春熙路 610021 86; 武侯区 人民南路四段 610041 85")),
    _City("湖北省", "武汉市", "27", 1, _districts(
        "江汉区 解放大道 430022 85; 武昌区 中北路 430071 87")),
    _City("陕西省", "西安市", "29", 1, _districts("雁塔区 小寨东路 710061 85")),
    _City("天津市", "天津市", "22", 1, _districts("和平区 南京路 300041 23")),
    _City("重庆市", "重庆市", "23", 1, _districts("渝中区 民权路 400010 63")),
    _City("山东省", "青岛市", "532", 1, _districts("市南区 香港中路 266071 85")),
    _City("辽宁省", "沈阳市", "24", 1, _districts("和平区 南京北街 110001 23")),
)
# fmt: on
_RESIDENCES = _words(
    "阳光花园 锦绣家园 翠湖苑 金色家园 御景湾 世纪城 名都公寓 香榭丽花园 滨江花园 紫荆苑"
)
_COMPANY_TITLES = (
    "北京华信智远科技有限公司",
    "上海锦程国际贸易有限公司",
    "杭州西子湖文化传媒有限公司",
    "深圳市前海创联投资有限公司",
    "广州天悦餐饮管理有限公司",
    "南京金陵恒达建筑设计有限公司",
)

# --- People ----------------------------------------------------------------------------------

_SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾田董潘蒋蔡叶程苏魏沈"
)
_GIVEN_FEMALE = _words(
    "静 丽 敏 婷 雪 娜 颖 欣怡 雨桐 子涵 思琪 晓燕 海燕 玉兰 淑华 梦瑶 佳怡 诗涵 嘉欣 慧敏"
)
_GIVEN_MALE = _words("伟 强 磊 军 杰 涛 超 明 浩然 子轩 宇航 俊杰 志强 建华 国栋 文博")
_ENGLISH_NAMES = (
    "James Miller",
    "Sophie Laurent",
    "Daniel Park",
    "Olivia Brown",
    "Lucas Schmidt",
    "Hannah Lee",
)
# Mainland mobile number blocks (13x, 15x, 17x, 18x, 19x).
_MOBILE_PREFIXES = _words(
    "130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 176 177 178"
    " 180 181 182 183 185 186 187 188 189 191 198 199"
)

# --- Plans -----------------------------------------------------------------------------------

_CROWD_TIERS = (Tier.VIP,) * 4 + (Tier.RETURNING,) * 18 + (Tier.NEW,) * 13
_ORDERS_PER_TIER = {Tier.VIP: (4, 7), Tier.RETURNING: (2, 4), Tier.NEW: (1, 1)}

# The back-office workload of the generated customers (the well-known ones add one requested
# exchange and one approved return): every status at least twice overall.
_RMA_COUNTS: dict[tuple[RmaKind, RmaStatus], int] = {
    (RmaKind.RETURN, RmaStatus.AWAITING_INSPECTION): 2,
    (RmaKind.RETURN, RmaStatus.IN_REVIEW): 2,
    (RmaKind.RETURN, RmaStatus.APPROVED): 1,
    (RmaKind.RETURN, RmaStatus.REFUND_PENDING): 2,
    (RmaKind.RETURN, RmaStatus.REJECTED): 1,
    (RmaKind.RETURN, RmaStatus.REFUNDED): 3,
    (RmaKind.RETURN, RmaStatus.CLOSED): 2,
    (RmaKind.EXCHANGE, RmaStatus.AWAITING_INSPECTION): 1,
    (RmaKind.EXCHANGE, RmaStatus.IN_REVIEW): 1,
    (RmaKind.EXCHANGE, RmaStatus.APPROVED): 1,
    (RmaKind.EXCHANGE, RmaStatus.REPLACEMENT_PENDING): 2,
    (RmaKind.EXCHANGE, RmaStatus.REJECTED): 1,
    (RmaKind.EXCHANGE, RmaStatus.REPLACEMENT_SHIPPED): 2,
    (RmaKind.EXCHANGE, RmaStatus.CLOSED): 1,
}
_RMA_PLAN = tuple(spec for spec, count in _RMA_COUNTS.items() for _ in range(count))

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
# How long ago an RMA in each status was filed, and how long after filing it last changed.
_RMA_AGE: dict[RmaStatus, tuple[timedelta, timedelta]] = {
    RmaStatus.AWAITING_INSPECTION: (2 * _HOUR, 3 * _DAY),
    RmaStatus.IN_REVIEW: (3 * _DAY, 8 * _DAY),
    RmaStatus.APPROVED: (5 * _DAY, 12 * _DAY),
    RmaStatus.REFUND_PENDING: (6 * _DAY, 14 * _DAY),
    RmaStatus.REPLACEMENT_PENDING: (6 * _DAY, 14 * _DAY),
    RmaStatus.REJECTED: (5 * _DAY, 30 * _DAY),
    RmaStatus.REFUNDED: (12 * _DAY, 90 * _DAY),
    RmaStatus.REPLACEMENT_SHIPPED: (7 * _DAY, 40 * _DAY),
    RmaStatus.CLOSED: (25 * _DAY, 250 * _DAY),
}
_RMA_PROGRESS: dict[RmaStatus, tuple[timedelta, timedelta]] = {
    RmaStatus.AWAITING_INSPECTION: (timedelta(0), timedelta(0)),
    RmaStatus.IN_REVIEW: (2 * _DAY, 3 * _DAY),
    RmaStatus.APPROVED: (3 * _DAY, 5 * _DAY),
    RmaStatus.REFUND_PENDING: (4 * _DAY, 6 * _DAY),
    RmaStatus.REPLACEMENT_PENDING: (4 * _DAY, 6 * _DAY),
    RmaStatus.REJECTED: (3 * _DAY, 6 * _DAY),
    RmaStatus.REFUNDED: (6 * _DAY, 10 * _DAY),
    RmaStatus.REPLACEMENT_SHIPPED: (5 * _DAY, 8 * _DAY),
    RmaStatus.CLOSED: (10 * _DAY, 20 * _DAY),
}
# A return carries the refund the back office filled in from approval onwards.
_REFUND_SET = frozenset(
    {RmaStatus.APPROVED, RmaStatus.REFUND_PENDING, RmaStatus.REFUNDED, RmaStatus.CLOSED}
)
_REGULAR_STATUS_WEIGHTS = {
    OrderStatus.DELIVERED: 62,
    OrderStatus.SHIPPED: 12,
    OrderStatus.APPROVED: 10,
    OrderStatus.CANCELLED: 8,
}


@dataclass(frozen=True, slots=True)
class _Ship:
    recipient_name: str | None
    recipient_phone: str | None
    province: str | None
    city: str | None
    address: str | None
    postal_code: str | None


@dataclass(frozen=True, slots=True)
class _Line:
    sku: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class _Taken:
    """Numbers already stored, which generated ones must avoid."""

    phones: frozenset[str]
    accounts: frozenset[str]
    orders: frozenset[str]
    rmas: frozenset[str]

    @classmethod
    def load(cls, session: Session) -> _Taken:
        return cls(
            phones=frozenset(session.scalars(select(CustomerPhone.e164))),
            accounts=frozenset(session.scalars(select(Customer.account_number))),
            orders=frozenset(session.scalars(select(Order.number))),
            rmas=frozenset(session.scalars(select(Rma.number))),
        )


class _Builder:
    """Builds the ORM rows in a fixed order from one random stream."""

    def __init__(self, rng: random.Random, now: datetime, taken: _Taken) -> None:
        self.rng = rng
        self.now = now
        fixed_phones = {c.phone for c in DEMO_CUSTOMERS} | {DEMO_VIP_HOME_PHONE}
        fixed_orders = {n for c in DEMO_CUSTOMERS for n in c.orders}
        self._phones_used = set(taken.phones) | fixed_phones
        self._accounts_used = set(taken.accounts) | {c.account for c in DEMO_CUSTOMERS}
        self._orders_used = set(taken.orders) | fixed_orders
        self._rmas_used = set(taken.rmas) | {n for c in DEMO_CUSTOMERS for n in c.rmas}
        self._names_used = {c.name for c in DEMO_CUSTOMERS}
        self.customers: list[Customer] = []
        self.phones: list[CustomerPhone] = []
        self.orders: list[Order] = []
        self.items: list[OrderItem] = []
        self.rmas: list[Rma] = []

    # --- the well-known customers: fixed values, no random draws ---

    def build_well_known(self) -> None:
        ago = self._ago
        wang = self._customer(DEMO_CUSTOMERS[0], created_at=ago(days=1460, hours=3))
        self._phone(wang, DEMO_VIP_HOME_PHONE, "home")
        wang_home = _Ship(
            DEMO_VIP_NAME,
            DEMO_VIP_PHONE,
            "北京市",
            "北京市",
            "朝阳区建国路88号现代城5号楼1202室",
            "100022",
        )
        delivered = self._order(
            wang,
            DEMO_VIP_DELIVERED_ORDER,
            OrderStatus.DELIVERED,
            PaymentType.PREPAID,
            [_Line("BAG-101201"), _Line("SLK-404101")],
            wang_home,
            invoice="个人",
            placed_at=ago(days=12, hours=4),
            shipped_at=ago(days=11, hours=9),
            delivered_at=ago(days=9, hours=6),
        )
        self._rma(
            DEMO_VIP_RMA,
            delivered,
            RmaKind.RETURN,
            RmaStatus.APPROVED,
            "SLK-404101",
            "质量问题：丝巾边缘抽丝",
            refund_fen=1_280_00,
            created_at=ago(days=7, hours=2),
            updated_at=ago(days=1, hours=5),
        )
        self._order(
            wang,
            DEMO_VIP_HIGH_VALUE_ORDER,
            OrderStatus.PENDING_REVIEW,
            PaymentType.PREPAID,
            [_Line("WAT-202110")],
            wang_home,
            invoice="个人",
            placed_at=ago(hours=27, minutes=12),
        )
        self._order(
            wang,
            DEMO_VIP_SHIPPED_ORDER,
            OrderStatus.SHIPPED,
            PaymentType.PREPAID,
            [_Line("COS-303101"), _Line("COS-303158")],
            wang_home,
            placed_at=ago(hours=22, minutes=40),
            shipped_at=ago(hours=6, minutes=15),
        )

        emily = self._customer(DEMO_CUSTOMERS[1], created_at=ago(days=1100, hours=7))
        emily_home = _Ship(
            DEMO_EN_NAME,
            DEMO_EN_PHONE,
            "上海市",
            "上海市",
            "静安区常德路800号静安公馆2号楼1801室",
            "200040",
        )
        self._order(
            emily,
            DEMO_EN_CANCELLED_ORDER,
            OrderStatus.CANCELLED,
            PaymentType.COD,
            [_Line("BAG-101305")],
            emily_home,
            placed_at=ago(days=61, hours=2),
        )
        delivered = self._order(
            emily,
            DEMO_EN_DELIVERED_ORDER,
            OrderStatus.DELIVERED,
            PaymentType.PREPAID,
            [_Line("SHO-505101-37"), _Line("COS-303135")],
            emily_home,
            invoice="上海锦程国际贸易有限公司",
            placed_at=ago(days=8, hours=3),
            shipped_at=ago(days=7, hours=10),
            delivered_at=ago(days=6, hours=1),
        )
        self._rma(
            DEMO_EN_RMA,
            delivered,
            RmaKind.EXCHANGE,
            RmaStatus.AWAITING_INSPECTION,
            "SHO-505101-37",
            "尺码不合适：偏小半码",
            replacement_sku="SHO-505101-38",
            created_at=ago(hours=20, minutes=30),
            updated_at=ago(hours=20, minutes=30),
        )
        self._order(
            emily,
            DEMO_EN_APPROVED_ORDER,
            OrderStatus.APPROVED,
            PaymentType.PREPAID,
            [_Line("JWL-606112")],
            emily_home,
            placed_at=ago(hours=5, minutes=20),
        )

        li = self._customer(DEMO_CUSTOMERS[2], created_at=ago(days=730, hours=1))
        li_home = _Ship(
            DEMO_RETURNING_NAME,
            DEMO_RETURNING_PHONE,
            "浙江省",
            "杭州市",
            "西湖区文三路259号翠湖苑3号楼2单元501室",
            "310012",
        )
        self._order(
            li,
            DEMO_RETURNING_DELIVERED_ORDER,
            OrderStatus.DELIVERED,
            PaymentType.PREPAID,
            [_Line("MEN-707101")],
            li_home,
            placed_at=ago(days=121, hours=5),
            shipped_at=ago(days=120, hours=8),
            delivered_at=ago(days=118, hours=2),
        )
        no_address = _Ship(DEMO_RETURNING_NAME, DEMO_RETURNING_PHONE, None, None, None, None)
        self._order(
            li,
            DEMO_RETURNING_INCOMPLETE_ORDER,
            OrderStatus.PENDING_REVIEW,
            PaymentType.COD,
            [_Line("MEN-707110"), _Line("COS-303112")],
            no_address,
            placed_at=ago(hours=3, minutes=5),
        )

        zhang = self._customer(DEMO_CUSTOMERS[3], created_at=ago(days=6, hours=2))
        zhang_home = _Ship(
            DEMO_NEW_NAME,
            DEMO_NEW_PHONE,
            "广东省",
            "广州市",
            "天河区天河路208号锦绣家园7号楼1单元903室",
            "510620",
        )
        self._order(
            zhang,
            DEMO_NEW_ORDER,
            OrderStatus.SHIPPED,
            PaymentType.COD,
            [_Line("SHO-505118-36"), _Line("COS-303142")],
            zhang_home,
            placed_at=ago(days=2, hours=1),
            shipped_at=ago(days=1, hours=3),
        )

        liu = self._customer(DEMO_CUSTOMERS[4], created_at=ago(days=540, hours=9))
        liu_home = _Ship(
            DEMO_DUPLICATE_NAME,
            DEMO_DUPLICATE_PHONE,
            "广东省",
            "深圳市",
            "福田区深南大道6008号御景湾2栋15B",
            "518048",
        )
        self._order(
            liu,
            DEMO_DUPLICATE_DELIVERED_ORDER,
            OrderStatus.DELIVERED,
            PaymentType.PREPAID,
            [_Line("SHO-505133-38")],
            liu_home,
            placed_at=ago(days=201, hours=6),
            shipped_at=ago(days=200, hours=9),
            delivered_at=ago(days=198, hours=4),
        )
        first = ago(minutes=41, seconds=20)
        for number, placed_at in zip(
            DEMO_DUPLICATE_ORDERS, (first, first + timedelta(seconds=95)), strict=True
        ):
            self._order(
                liu,
                number,
                OrderStatus.PENDING_REVIEW,
                PaymentType.COD,
                [_Line("COS-303112"), _Line("SLK-404115")],
                liu_home,
                placed_at=placed_at,
            )

    # --- the crowd: drawn from the random stream ---

    def build_crowd(self) -> None:
        rng = self.rng
        people = [(tier, Language.ZH) for tier in _CROWD_TIERS]
        for tier in (Tier.VIP, Tier.RETURNING, Tier.NEW):  # one English speaker per tier
            people[people.index((tier, Language.ZH))] = (tier, Language.EN)
        rng.shuffle(people)
        english = iter(rng.sample(_ENGLISH_NAMES, 3))

        regulars = [i for i, (tier, _) in enumerate(people) if tier is not Tier.NEW]
        newcomers = [i for i, (tier, _) in enumerate(people) if tier is Tier.NEW]
        rma_owner = dict(zip(rng.sample(regulars, len(_RMA_PLAN)), _RMA_PLAN, strict=True))
        special_owner = {
            rng.choice(newcomers): "high-value-cod",
            rng.choice([i for i in regulars if i not in rma_owner] or regulars): "high-value",
        }
        special_owner[rng.choice([i for i in newcomers if i not in special_owner])] = "no-phone"

        for index, (tier, language) in enumerate(people):
            name = next(english) if language is Language.EN else self._chinese_name()
            customer = Customer(
                name=name, account_number=self._account(), tier=tier, language=language
            )
            self.customers.append(customer)
            city = self._weighted_city()
            district = rng.choice(city.districts)
            mobile = self._mobile()
            self._phone(customer, mobile, "mobile")
            if rng.random() < 0.25:
                self._phone(customer, self._landline(city, district), "home")
            home = _Ship(
                name,
                mobile,
                city.province,
                city.city,
                self._street_address(district),
                district.postal_code,
            )

            low, high = _ORDERS_PER_TIER[tier]
            count = rng.randint(low, high)
            orders: list[Order] = []
            if index in rma_owner:
                orders.append(self._order_with_rma(customer, home, *rma_owner[index]))
            if index in special_owner:
                orders.append(self._special_order(customer, home, special_owner[index]))
            while len(orders) < count:
                orders.append(self._regular_order(customer, tier, home))
            earliest = min(o.placed_at for o in orders)
            customer.created_at = earliest - self._between(
                *{
                    Tier.VIP: (400 * _DAY, 2500 * _DAY),
                    Tier.RETURNING: (30 * _DAY, 1200 * _DAY),
                    Tier.NEW: (timedelta(minutes=10), 5 * _DAY),
                }[tier]
            )

    def _regular_order(self, customer: Customer, tier: Tier, home: _Ship) -> Order:
        rng = self.rng
        status = rng.choices(
            list(_REGULAR_STATUS_WEIGHTS), weights=list(_REGULAR_STATUS_WEIGHTS.values())
        )[0]
        oldest = 40 * _DAY if tier is Tier.NEW else 400 * _DAY
        shipped_at: datetime | None = None
        delivered_at: datetime | None = None
        if status is OrderStatus.APPROVED:
            placed_at = self.now - self._between(_HOUR, 20 * _HOUR)
        elif status is OrderStatus.SHIPPED:
            age = self._between(30 * _HOUR, 4 * _DAY)
            placed_at = self.now - age
            shipped_at = placed_at + self._between(6 * _HOUR, min(30 * _HOUR, age - _HOUR))
        elif status is OrderStatus.DELIVERED:
            placed_at = self.now - self._between(6 * _DAY, oldest)
            shipped_at = placed_at + self._between(6 * _HOUR, 36 * _HOUR)
            delivered_at = shipped_at + self._between(_DAY, 4 * _DAY)
        else:  # cancelled before it shipped
            placed_at = self.now - self._between(2 * _DAY, min(oldest, 300 * _DAY))
        cod_share = 0.1 if tier is Tier.VIP else 0.3
        payment = PaymentType.COD if rng.random() < cod_share else PaymentType.PREPAID
        return self._order(
            customer,
            self._order_number(),
            status,
            payment,
            self._lines(),
            self._destination(home),
            invoice=self._invoice(),
            placed_at=placed_at,
            shipped_at=shipped_at,
            delivered_at=delivered_at,
        )

    def _special_order(self, customer: Customer, home: _Ship, kind: str) -> Order:
        """An order the middle office must review: above 2,000 CNY, or missing the phone."""
        if kind == "high-value-cod":  # a first order: a 42,600 CNY watch, cash on delivery
            lines, payment, ship = [_Line("WAT-202530")], PaymentType.COD, home
        elif kind == "high-value":
            lines = [_Line("BAG-101633"), _Line("SLK-404130")]
            payment, ship = PaymentType.PREPAID, home
        else:  # no recipient phone: the courier cannot call ahead, so someone must ask
            lines = [_Line("JWL-606120"), _Line("COS-303158")]
            payment = PaymentType.COD
            ship = _Ship(
                home.recipient_name, None, home.province, home.city, home.address, home.postal_code
            )
        placed_at = self.now - self._between(timedelta(minutes=40), 10 * _HOUR)
        return self._order(
            customer,
            self._order_number(),
            OrderStatus.PENDING_REVIEW,
            payment,
            lines,
            ship,
            invoice=self._invoice(),
            placed_at=placed_at,
        )

    def _order_with_rma(
        self, customer: Customer, home: _Ship, kind: RmaKind, status: RmaStatus
    ) -> Order:
        """A delivered order and the RMA filed on it within the seven-day return window."""
        rng = self.rng
        created_age = self._between(*_RMA_AGE[status])
        created_at = self.now - created_age
        low, high = _RMA_PROGRESS[status]
        updated_at = created_at + self._between(low, min(high, created_age - _HOUR))
        delivered_at = created_at - self._between(3 * _HOUR, 6 * _DAY)
        shipped_at = delivered_at - self._between(20 * _HOUR, 3 * _DAY)
        placed_at = shipped_at - self._between(6 * _HOUR, 30 * _HOUR)
        payment = PaymentType.COD if rng.random() < 0.2 else PaymentType.PREPAID
        order = self._order(
            customer,
            self._order_number(),
            OrderStatus.DELIVERED,
            payment,
            self._lines(),
            self._destination(home),
            invoice=self._invoice(),
            placed_at=placed_at,
            shipped_at=shipped_at,
            delivered_at=delivered_at,
        )

        item = rng.choice(order.items)
        product, size = _split_sku(item.sku)
        quality, damage, mismatch = _FAULTS[product.category]
        reasons = [f"质量问题：{quality}", f"运输损坏：{damage}"]
        if product.sizes:
            reasons += ["尺码不合适：偏小半码", "尺码不合适：偏大一码"]
        if kind is RmaKind.RETURN:
            reasons += ["七天无理由退货", f"商品与描述不符：{mismatch}"]
        reason = rng.choice(reasons)
        replacement: str | None = None
        refund: int | None = None
        if kind is RmaKind.EXCHANGE:
            replacement = item.sku
            if reason.startswith("尺码不合适"):
                others = [s for s in product.sizes if s != size]
                replacement = f"{product.sku}-{rng.choice(others)}"
        elif status in _REFUND_SET:
            refund = item.unit_price_fen
        self._rma(
            self._rma_number(),
            order,
            kind,
            status,
            item.sku,
            reason,
            refund_fen=refund,
            replacement_sku=replacement,
            created_at=created_at,
            updated_at=updated_at,
        )
        return order

    # --- rows ---

    def _customer(self, demo: DemoCustomer, *, created_at: datetime) -> Customer:
        customer = Customer(
            name=demo.name,
            account_number=demo.account,
            tier=demo.tier,
            language=demo.language,
            created_at=created_at,
        )
        self.customers.append(customer)
        self._phone(customer, demo.phone, "mobile")
        return customer

    def _phone(self, customer: Customer, e164: str, label: str) -> None:
        self.phones.append(CustomerPhone(customer=customer, e164=e164, label=label))

    def _order(
        self,
        customer: Customer,
        number: str,
        status: OrderStatus,
        payment: PaymentType,
        lines: Sequence[_Line],
        ship: _Ship,
        *,
        placed_at: datetime,
        invoice: str | None = None,
        shipped_at: datetime | None = None,
        delivered_at: datetime | None = None,
    ) -> Order:
        items: list[OrderItem] = []
        for line in lines:
            product, size = _split_sku(line.sku)
            label = f" {size}码" if size else ""
            items.append(
                OrderItem(
                    sku=line.sku,
                    name=product.name + label,
                    quantity=line.quantity,
                    unit_price_fen=product.price_fen,
                )
            )
        order = Order(
            number=number,
            customer=customer,
            status=status,
            payment_type=payment,
            amount_fen=sum(i.unit_price_fen * i.quantity for i in items),
            placed_at=placed_at,
            shipped_at=shipped_at,
            delivered_at=delivered_at,
            invoice_title=invoice,
            recipient_name=ship.recipient_name,
            recipient_phone=ship.recipient_phone,
            province=ship.province,
            city=ship.city,
            address=ship.address,
            postal_code=ship.postal_code,
            items=items,
        )
        self.orders.append(order)
        self.items.extend(items)
        return order

    def _rma(
        self,
        number: str,
        order: Order,
        kind: RmaKind,
        status: RmaStatus,
        sku: str,
        reason: str,
        *,
        created_at: datetime,
        updated_at: datetime,
        refund_fen: int | None = None,
        replacement_sku: str | None = None,
    ) -> None:
        """An RMA for one of `order`'s lines; `reason` is the customer's words, whose opening
        phrase gives the reason code. Refunded and shipped ones carry finance's reference or
        the parcel's tracking number, made from the RMA's number."""
        code = _REASON_OF[reason.split("：")[0]]
        done = status in {RmaStatus.REFUNDED, RmaStatus.REPLACEMENT_SHIPPED, RmaStatus.CLOSED}
        decided = status not in {RmaStatus.AWAITING_INSPECTION, RmaStatus.IN_REVIEW}
        self.rmas.append(
            Rma(
                number=number,
                order=order,
                customer=order.customer,
                kind=kind,
                status=status,
                reason=code.value,
                description=reason,
                sku=sku,
                quantity=1,
                opened=code in _OPENED,
                refund_amount_fen=refund_fen,
                replacement_sku=replacement_sku,
                source="seed",
                finance_reference=f"FIN{number}" if done and kind is RmaKind.RETURN else None,
                tracking_number=f"SF30{number}" if done and kind is RmaKind.EXCHANGE else None,
                # Decided two thirds of the way from filing to its last change.
                decided_at=created_at + (updated_at - created_at) * 2 / 3 if decided else None,
                created_at=created_at,
                updated_at=updated_at,
            )
        )

    def link_rmas(self) -> list[Inspection]:
        """Once the rows have ids: each RMA's order line, and the inspection of every RMA past
        awaiting inspection (failed for a rejected one, and for every other one in review, so
        the work list shows both; passed otherwise), made when it entered review."""
        inspections = []
        in_review = 0
        for rma in self.rmas:
            rma.order_item_id = next(i.id for i in rma.order.items if i.sku == rma.sku)
            if rma.status is RmaStatus.AWAITING_INSPECTION:
                continue
            if rma.status is RmaStatus.IN_REVIEW:
                in_review += 1
                at = rma.updated_at
            else:
                at = rma.created_at + (rma.updated_at - rma.created_at) / 3
            failed = rma.status is RmaStatus.REJECTED or (
                rma.status is RmaStatus.IN_REVIEW and in_review % 2 == 0
            )
            inspections.append(
                Inspection(
                    rma_id=rma.id,
                    passed=not failed,
                    notes=_FAILED_NOTES if failed else "外观完好，配件齐全",
                    inspector="仓库-质检组",
                    inspected_at=at.replace(microsecond=0),
                    source="seed",
                    recorded_at=at.replace(microsecond=0),
                )
            )
        return inspections

    # --- random pieces ---

    def _ago(
        self, *, days: int = 0, hours: int = 0, minutes: int = 0, seconds: int = 0
    ) -> datetime:
        return self.now - timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)

    def _between(self, low: timedelta, high: timedelta) -> timedelta:
        """A whole number of seconds between `low` and `high`, both included."""
        return timedelta(
            seconds=self.rng.randint(int(low.total_seconds()), int(high.total_seconds()))
        )

    def _lines(self) -> list[_Line]:
        rng = self.rng
        count = rng.choices((1, 2, 3), weights=(55, 30, 15))[0]
        lines: list[_Line] = []
        for product in rng.sample(_CATALOGUE, count):
            sku = f"{product.sku}-{rng.choice(product.sizes)}" if product.sizes else product.sku
            quantity = 2 if product.category == "cosmetics" and rng.random() < 0.2 else 1
            lines.append(_Line(sku, quantity))
        return lines

    def _destination(self, home: _Ship) -> _Ship:
        """Mostly the customer's home; now and then an office or a gift elsewhere."""
        rng = self.rng
        if rng.random() < 0.85:
            return home
        city = self._weighted_city()
        district = rng.choice(city.districts)
        gift = rng.random() < 0.5
        name = self._chinese_name(register=False) if gift else home.recipient_name
        phone = self._mobile() if gift else home.recipient_phone
        return _Ship(
            name,
            phone,
            city.province,
            city.city,
            self._street_address(district),
            district.postal_code,
        )

    def _invoice(self) -> str | None:
        roll = self.rng.random()
        if roll < 0.15:
            return "个人"
        if roll < 0.3:
            return self.rng.choice(_COMPANY_TITLES)
        return None

    def _street_address(self, district: _District) -> str:
        rng = self.rng
        return (
            f"{district.name}{district.street}{rng.randint(1, 999)}号"
            f"{rng.choice(_RESIDENCES)}{rng.randint(1, 18)}号楼{rng.randint(1, 4)}单元"
            f"{rng.randint(2, 32)}{rng.randint(1, 4):02d}室"
        )

    def _weighted_city(self) -> _City:
        return self.rng.choices(_CITIES, weights=[c.weight for c in _CITIES])[0]

    def _chinese_name(self, *, register: bool = True) -> str:
        rng = self.rng
        while True:
            given = _GIVEN_FEMALE if rng.random() < 0.7 else _GIVEN_MALE
            name = rng.choice(_SURNAMES) + rng.choice(given)
            if not register:
                return name
            if name not in self._names_used:
                self._names_used.add(name)
                return name

    def _mobile(self) -> str:
        return self._unique(
            self._phones_used,
            lambda: "+86" + self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}",
        )

    def _landline(self, city: _City, district: _District) -> str:
        return self._unique(
            self._phones_used,
            lambda: f"+86{city.area_code}{district.landline_prefix}{self.rng.randrange(10**6):06d}",
        )

    def _account(self) -> str:
        return self._unique(
            self._accounts_used, lambda: str(self.rng.randint(61_000_000, 69_999_999))
        )

    def _order_number(self) -> str:
        return self._unique(
            self._orders_used, lambda: str(self.rng.randint(2_100_000_000, 2_999_999_999))
        )

    def _rma_number(self) -> str:
        return self._unique(self._rmas_used, lambda: str(self.rng.randint(81_000_000, 89_999_999)))

    @staticmethod
    def _unique(used: set[str], draw: Callable[[], str]) -> str:
        while (value := draw()) in used:
            pass
        used.add(value)
        return value


def _split_sku(sku: str) -> tuple[_Product, str | None]:
    """The catalogue product behind an item SKU, and its size (`SHO-505101-37` is size 37)."""
    if sku.count("-") == 2:
        base, size = sku.rsplit("-", 1)
        return _BY_SKU[base], size
    return _BY_SKU[sku], None


# --- The knowledge base (work_orders.knowledge) ------------------------------------------------

#: One demo article per category of config/work_orders.toml ("other" has none: it is what the
#: rules say when nothing matched), in both languages, with the IVR nodes whose callers it
#: answers. Slugs are stable: QC scorecards may name them.
DEMO_ARTICLES: tuple[dict[str, str], ...] = (
    {
        "slug": "cracked-screen-on-arrival",
        "category": "product_quality",
        "title_zh": "收货时屏幕碎裂",
        "title_en": "A screen cracked on arrival",
        "answer_zh": "签收七天内发现屏幕碎裂，属质量问题："
        "拍照上传后由售后A组换新，来回运费由我们承担。",
        "answer_en": "A screen found cracked within 7 days of delivery is a quality problem: "
        "after photos are uploaded, after-sales group A replaces the item; we pay shipping.",
        "wording_zh": "非常抱歉给您带来不便。请您拍几张屏幕的照片发给我们，"
        "我们会尽快为您换新，运费由我们承担。",
        "wording_en": "I am very sorry about this. Please send us a few photos of the screen and "
        "we will replace it for you as soon as possible, at our cost.",
        "policy_links": "退换货政策 Return policy | /back/",
        "ivr_nodes": "returns aftersales_agent",
        "keywords": "碎屏 屏幕 裂 cracked broken screen",
    },
    {
        "slug": "damaged-parcel",
        "category": "damaged_in_transit",
        "title_zh": "包裹运输途中损坏",
        "title_en": "A parcel damaged in transit",
        "answer_zh": "外包装破损或商品压坏：请客户保留包装并拍照，"
        "我们向物流公司索赔，同时为客户补发或退款。",
        "answer_en": "A crushed parcel or damaged item: the customer keeps the packaging and "
        "takes photos; we claim from the carrier and resend or refund at once.",
        "wording_zh": "很抱歉包裹在运输中受损。请保留外包装并拍照，"
        "我们会马上为您补发或退款，不需要您等待物流理赔。",
        "wording_en": "I am sorry your parcel was damaged on the way. Please keep the packaging "
        "and take photos; we will resend or refund right away, without waiting for the carrier.",
        "policy_links": "",
        "ivr_nodes": "returns aftersales_agent",
        "keywords": "压坏 破损 damaged crushed parcel",
    },
    {
        "slug": "how-to-use-first-steps",
        "category": "usage_question",
        "title_zh": "商品使用入门",
        "title_en": "Getting started with a product",
        "answer_zh": "使用问题由售后B组解答：先确认型号，"
        "再按说明书的入门步骤逐步引导；需要时发送视频教程链接。",
        "answer_en": "After-sales group B answers usage questions: confirm the model, then walk "
        "through the manual's first steps; send the video guide's link when it helps.",
        "wording_zh": "我来一步一步帮您操作。请先告诉我商品型号，我们从第一步开始。",
        "wording_en": "Let me take you through it step by step. Could you tell me the model "
        "first? Then we start with step one.",
        "policy_links": "",
        "ivr_nodes": "presales_agent",
        "keywords": "怎么用 如何使用 how do i use manual",
    },
    {
        "slug": "delivery-late",
        "category": "logistics_delay",
        "title_zh": "物流延误",
        "title_en": "A delivery running late",
        "answer_zh": "超过预计送达时间48小时仍未签收：查询物流单号，"
        "联系物流部催件；超过7天未到可全额退款。",
        "answer_en": "Not delivered 48 hours after the expected date: look up the tracking "
        "number and ask logistics to chase it; after 7 days the customer may have a full refund.",
        "wording_zh": "我已经为您查询了物流信息，并通知物流部门加急处理，"
        "今天之内会给您回电告知进展。",
        "wording_en": "I have checked the tracking and asked our logistics team to chase it; "
        "we will call you back today with an update.",
        "policy_links": "",
        "ivr_nodes": "order_status order_done orders_agent",
        "keywords": "没收到 延误 催件 late delayed where is my order",
    },
    {
        "slug": "invoice-request",
        "category": "invoice",
        "title_zh": "开具发票",
        "title_en": "Asking for an invoice",
        "answer_zh": "订单签收后可开具电子发票：核对抬头和税号，"
        "由财务部在3个工作日内发送到客户邮箱。",
        "answer_en": "An e-invoice can be issued once the order is delivered: check the title "
        "and tax number; finance emails it within 3 working days.",
        "wording_zh": "请您提供发票抬头和税号，我们会在3个工作日内把电子发票发到您的邮箱。",
        "wording_en": "Please give me the invoice title and the tax number; the e-invoice "
        "reaches your email within 3 working days.",
        "policy_links": "",
        "ivr_nodes": "agent",
        "keywords": "发票 抬头 税号 invoice fapiao receipt",
    },
    {
        "slug": "refund-timing",
        "category": "refund",
        "title_zh": "退款到账时间",
        "title_en": "When a refund arrives",
        "answer_zh": "退货审核通过后1个工作日内发起退款，原路退回："
        "支付宝和微信1-3天，银行卡3-7个工作日。",
        "answer_en": "A refund is started within 1 working day of the return's approval, to the "
        "original payment: Alipay and WeChat 1-3 days, bank cards 3-7 working days.",
        "wording_zh": "您的退款已经发起，会原路退回。支付宝或微信一般1到3天到账，"
        "银行卡3到7个工作日。",
        "wording_en": "Your refund has been started and goes back to how you paid: 1 to 3 days "
        "for Alipay or WeChat, 3 to 7 working days for a bank card.",
        "policy_links": "退换货政策 Return policy | /back/",
        "ivr_nodes": "returns rma_status rma_done order_cancel",
        "keywords": "退款 到账 refund money back",
    },
    {
        "slug": "complaint-first-response",
        "category": "complaint",
        "title_zh": "投诉的首次回应",
        "title_en": "The first answer to a complaint",
        "answer_zh": "先倾听、致歉并复述问题；记录工单并告知处理时限（2小时内反馈、"
        "24小时内解决）；不争辩、不推诿。",
        "answer_en": "Listen, apologise and repeat the problem back; open a work order and give "
        "the time limits (feedback within 2 hours, a resolution within 24); never argue.",
        "wording_zh": "非常抱歉给您带来这样的体验。我已经记录下来，"
        "两小时内会有专人联系您，二十四小时内给您解决方案。",
        "wording_en": "I am truly sorry for this experience. I have recorded it; someone will "
        "contact you within two hours, with a solution within twenty-four.",
        "policy_links": "",
        "ivr_nodes": "complaints_agent",
        "keywords": "投诉 不满意 complain complaint unhappy",
    },
)


def seed_knowledge_base(
    session: Session, *, categories: Collection[str], menu_nodes: Collection[str], now: datetime
) -> int:
    """Add the demo knowledge base articles (`DEMO_ARTICLES`), each checked like a team
    lead's form against the rules' `categories` and the menus' nodes; how many were created.
    Idempotent: an article already there (by slug) is left as it is. Flushes, never commits."""
    from work_orders import knowledge
    from work_orders.knowledge_models import Article

    created = 0
    for spec in DEMO_ARTICLES:
        if session.scalar(select(Article.id).where(Article.slug == spec["slug"])) is not None:
            continue
        given = knowledge.check(spec, categories=categories, menu_nodes=menu_nodes)
        saved = knowledge.create_article(
            session, spec["slug"], given, author_id=None, author="seed", now=now
        )
        created += saved.created
    return created
