"""Chinese-first display labels (with English) for the codes the desk shows; unknown codes show
as themselves, so a new queue or disposition in the queue file needs no code change."""

from __future__ import annotations

STATES = {
    "offline": "离线 Offline",
    "available": "空闲 Available",
    "reserved": "来电振铃 Ringing",
    "on_call": "通话中 On call",
    "wrap_up": "话后整理 Wrap-up",
    "break": "小休 Break",
}
BREAK_REASONS = {
    "missed": "未接来电 Missed call",
    "lunch": "午餐 Lunch",
    "training": "培训 Training",
    "meeting": "会议 Meeting",
    "personal": "个人事务 Personal",
}
DISPOSITIONS = {
    "resolved": "已解决 Resolved",
    "follow_up": "需跟进 Follow-up",
    "escalated": "已升级 Escalated",
    "wrong_queue": "转错队列 Wrong queue",
    "no_action": "无需处理 No action",
}
QUEUES = {
    "general": "综合咨询 General",
    "presales": "售前咨询 Pre-sales",
    "orders": "订单查询 Orders",
    "aftersales": "售后服务 After-sales",
    "complaints": "投诉建议 Complaints",
    "vip": "VIP 专席 VIP",
    "english": "英语服务 English",
}
TIERS = {"new": "新客户 New", "returning": "老客户 Returning", "vip": "VIP 会员 VIP"}
ORDER_STATUSES = {
    "pending_review": "待审核 Pending review",
    "approved": "已审核 Approved",
    "shipped": "已发货 Shipped",
    "delivered": "已签收 Delivered",
    "cancelled": "已取消 Cancelled",
}
RMA_KINDS = {"return": "退货 Return", "exchange": "换货 Exchange"}
RMA_STATUSES = {
    "awaiting_inspection": "待质检 Awaiting inspection",
    "in_review": "审核中 In review",
    "approved": "已批准 Approved",
    "rejected": "未通过 Rejected",
    "refund_pending": "待退款 Refund pending",
    "refunded": "已退款 Refunded",
    "replacement_pending": "待发货 Replacement pending",
    "replacement_shipped": "已发出 Replacement shipped",
    "closed": "已完成 Closed",
}


def label(table: dict[str, str], code: str | None) -> str:
    """The label of `code` in `table`, or the code itself."""
    if code is None:
        return ""
    return table.get(code, code)


def choices(table: dict[str, str], codes: tuple[str, ...]) -> list[dict[str, str]]:
    """[{"code", "label"}] for a select, in the configured order."""
    return [{"code": c, "label": label(table, c)} for c in codes]
