// The agent desk: polls /desk/api/state about once a second and re-renders; buttons call the API.
// Data from the server is only ever put in the page with textContent (never as HTML).
(function () {
  'use strict';

  var page = document.body.dataset;
  var last = null;          // the last state view
  var offsetMs = 0;         // server clock minus browser clock
  var entryShown = null;    // the entry whose wrap-up form is on screen
  var device = null;        // Twilio.Device (Twilio mode)
  var incoming = null;      // the browser's ringing or live Twilio call

  function $(id) { return document.getElementById(id); }
  function show(el, visible) { el.hidden = !visible; }
  function setText(el, value) { el.textContent = value == null ? '' : String(value); }

  function api(method, path, payload) {
    var opts = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-CSRF-Token'] = page.csrf;
      opts.body = JSON.stringify(payload || {});
    }
    return fetch(page.api + path, opts).then(function (res) {
      if (res.status === 401) { window.location.assign(page.login); throw new Error('signed out'); }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error((data.error && data.error.message) || res.statusText);
          err.code = data.error && data.error.code;
          throw err;
        }
        return data;
      });
    });
  }

  function showError(message) {
    var el = $('error');
    setText(el, message ? '操作未完成 Not done: ' + message : '');
    show(el, !!message);
  }

  function act(method, path, payload) {
    showError(null);
    return api(method, path, payload).then(render).catch(function (err) { showError(err.message); });
  }

  // --- rendering -------------------------------------------------------------------------

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mmss = (h ? String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0');
    return h ? h + ':' + mmss : mmss;
  }

  function tick() {
    if (!last) return;
    var since = Date.parse(last.agent.since);
    setText($('state-time'), clock((Date.now() + offsetMs - since) / 1000));
  }

  function fillSelect(select, choices) {
    var key = JSON.stringify(choices);
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    select.replaceChildren();
    choices.forEach(function (c) {
      var option = document.createElement('option');
      option.value = c.code;
      option.textContent = c.label;
      select.appendChild(option);
    });
  }

  function rows(tbody, items, cells, empty) {
    tbody.replaceChildren();
    if (!items.length) {
      var tr = document.createElement('tr'), td = document.createElement('td');
      td.colSpan = 4; td.className = 'muted'; td.textContent = empty;
      tr.appendChild(td); tbody.appendChild(tr);
      return;
    }
    items.forEach(function (item) {
      var tr = document.createElement('tr');
      cells(item).forEach(function (cell) {
        var td = document.createElement('td');
        if (cell[0] instanceof Node) { td.appendChild(cell[0]); } else { td.textContent = cell[0]; }
        if (cell[1]) td.className = cell[1];
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  function renderState(agent) {
    var badge = $('state');
    setText(badge, agent.state_label);
    badge.dataset.state = agent.state;
    setText($('reason'), agent.state === 'break' ? agent.reason_label : '');
    show($('missed'), agent.missed);
    var inCall = agent.state === 'reserved' || agent.state === 'on_call';
    var wrapping = agent.state === 'wrap_up' && last && last.call && !last.call.wrapped_up;
    $('go-available').disabled = inCall || wrapping || agent.state === 'available';
    $('go-break').disabled = inCall || wrapping;
    $('go-offline').disabled = inCall || wrapping || agent.state === 'offline';
    $('break-reason').disabled = inCall || wrapping;
    $('logout').disabled = inCall || wrapping;
    var idle = { available: '等待来电… Waiting for calls…', offline: '您已离线。点“空闲”开始接听。 You are offline: click Available to take calls.',
                 'break': '小休中，不会分配来电。 On break: no calls are offered.',
                 wrap_up: '话后整理中。外呼的结果在中台工单保存。 Wrap-up: an outbound call\'s outcome is saved on the work list.' };
    setText($('idle-text'), idle[agent.state] || '');
  }

  function renderCall(call) {
    show($('idle'), !call);
    show($('call'), !!call);
    if (!call) { entryShown = null; return; }
    var titles = call.outbound
      ? { ringing: '外呼：接起后拨打客户 Outbound: answer, then the customer is dialled', talking: '外呼通话中 Outbound call' }
      : { ringing: '来电振铃 Incoming call', talking: '通话中 On call', wrap_up: '话后整理 Wrap-up' };
    setText($('call-title'), titles[call.phase]);
    $('call').dataset.phase = call.phase;
    show($('answer'), call.phase === 'ringing');
    $('answer').disabled = !call.leg_ready;
    show($('hangup'), call.phase === 'talking');

    var c = call.customer;
    setText($('customer-name'), c.name);
    show($('tier'), !!c.tier && c.tier !== 'vip');
    setText($('tier'), c.tier_label || '');
    show($('vip'), call.vip);
    show($('callback'), call.callback);
    setText($('number'), call.number);
    setText($('account'), c.account || '—');
    setText($('queue'), call.queue_label);
    setText($('wait'), clock(call.wait_s));
    setText($('language'), call.language === 'en' ? 'English' : '中文');

    var ivr = $('ivr');
    ivr.replaceChildren();
    if (!call.ivr_path.length) {
      var none = document.createElement('li');
      none.className = 'muted'; none.textContent = '无 None';
      ivr.appendChild(none);
    }
    call.ivr_path.forEach(function (step) {
      var li = document.createElement('li');
      var at = document.createElement('span'); at.className = 'node'; at.textContent = step.at;
      var key = document.createElement('kbd'); key.textContent = step.input;
      var to = document.createElement('span'); to.className = 'to'; to.textContent = '→ ' + step.to;
      li.append(at, ' ', key, ' ', to);
      ivr.appendChild(li);
    });
    var mayCancel = !!(last && last.may_cancel_orders);
    document.querySelectorAll('.order-action').forEach(function (th) { show(th, mayCancel); });
    rows($('orders'), c.orders || [], function (o) {
      var cells = [[o.number, 'mono'], [o.amount, 'num'], [o.status_label], [o.date, 'mono']];
      if (mayCancel) cells.push([orderAction(o), 'order-action']);
      return cells;
    }, c.known ? '无订单 No orders' : '未识别客户 Caller not identified');
    rows($('rmas'), c.open_rmas || [], function (r) {
      return [[r.number, 'mono'], [r.kind_label], [r.status_label], [r.order_number, 'mono']];
    }, c.known ? '无未结退换货 None open' : '—');

    var form = $('wrap-up');
    var needsWrapUp = call.phase === 'wrap_up' && !call.wrapped_up;
    if (entryShown !== call.entry_id) {
      form.reset(); entryShown = call.entry_id; show($('cancel-result'), false);
    }
    show(form, needsWrapUp);
  }

  function render(view) {
    last = view;
    offsetMs = Date.parse(view.now) - Date.now();
    fillSelect($('break-reason'), view.options.break_reasons);
    fillSelect($('disposition'), view.options.dispositions);
    renderState(view.agent);
    renderCall(view.call);
    var watched = view.monitored;
    show($('monitored'), !!watched);
    if (watched) {
      var modes = { listen: '旁听 listening', whisper: '耳语 whispering', barge: '插话 barged in' };
      setText($('monitored-by'), watched.supervisor + ' · ' + (modes[watched.mode] || watched.mode));
    }
    tick();
    document.dispatchEvent(new CustomEvent('desk:state', { detail: view }));  // work_orders.js
    return view;
  }

  function poll() {
    api('GET', '/state').then(render).catch(function (err) {
      if (err.message !== 'signed out') showError(err.message);
    }).then(function () { window.setTimeout(poll, 1000); });
  }

  // Cancel and refund an order that has not shipped (no review); a shipped one is returned.
  function orderAction(order) {
    if (order.cancellable) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'danger cancel-order';
      button.dataset.order = order.number;
      button.textContent = '取消并退款 Cancel and refund';
      button.addEventListener('click', function () { cancelOrder(order); });
      return button;
    }
    var hint = document.createElement('span');
    hint.className = 'muted';
    hint.textContent = order.shipped ? '已发货：请改为申请退货 Shipped: request a return instead' : '';
    return hint;
  }

  function cancelOrder(order) {
    var question = '取消订单 ' + order.number + ' 并退款 ' + order.refund + '？此操作不经审核，不能撤销。\n' +
      'Cancel order ' + order.number + ' and refund ' + order.refund + '? There is no review and no undo.';
    if (!window.confirm(question)) return;
    var banner = $('cancel-result');
    showError(null);
    api('POST', '/orders/' + encodeURIComponent(order.number) + '/cancel', {}).then(function (done) {
      var rma = done.rma ? '，退款单 RMA ' + done.rma : '';
      setText(banner, '订单 ' + done.order + ' 已取消，退款 ' + done.refund + ' 已交财务' + rma +
        ' · Order ' + done.order + ' cancelled; refund ' + done.refund + ' handed to finance.');
      show(banner, true);
    }).catch(function (err) {
      var text = err.code === 'order-shipped'
        ? '订单已发货，不能取消：请改为申请退货 The order has shipped: request a return instead'
        : err.message;
      showError(text);
    });
  }

  // --- actions ---------------------------------------------------------------------------

  function changeState(to) {
    var body = { to: to, from: last && last.agent.state };
    if (to === 'break') body.reason = $('break-reason').value;
    return act('POST', '/state', body);
  }

  ['go-available', 'go-break', 'go-offline'].forEach(function (id) {
    $(id).addEventListener('click', function (e) { changeState(e.currentTarget.dataset.to); });
  });

  $('answer').addEventListener('click', function () {
    if (page.mode === 'twilio') {
      if (incoming) { incoming.accept(); } else { showError('浏览器尚未收到来电 The browser has no incoming call yet'); }
      return;
    }
    act('POST', '/answer');
  });

  $('hangup').addEventListener('click', function () {
    act('POST', '/hangup').then(function () { if (incoming) incoming.disconnect(); });
  });

  $('wrap-up').addEventListener('submit', function (e) {
    e.preventDefault();
    var save = $('save-wrap-up');
    if (save.disabled) return;  // a double click sends one wrap-up
    save.disabled = true;
    var body = { disposition: $('disposition').value, notes: $('notes').value };
    if (window.deskWorkOrders) body.work_order = window.deskWorkOrders.read('wo');
    act('POST', '/wrap-up', body).then(function () { save.disabled = false; });
  });

  // For work_orders.js: the same API calls and error line.
  window.desk = { api: api, showError: showError };

  // --- Twilio Voice SDK (Twilio mode) -----------------------------------------------------

  function deviceStatus(text) { var el = $('device'); if (el) setText(el, text); }

  function startDevice() {
    if (!window.Twilio || !window.Twilio.Device) {
      deviceStatus('语音 SDK 未加载，无法在浏览器接听 Voice SDK not loaded: cannot answer in the browser');
      return;
    }
    api('GET', '/token').then(function (t) {
      device = new window.Twilio.Device(t.token, { closeProtection: true });
      device.on('registered', function () { deviceStatus('语音设备已就绪 Voice device ready'); });
      device.on('error', function (err) { deviceStatus('语音设备错误 Voice device error: ' + err.message); });
      device.on('incoming', function (call) {
        incoming = call;
        ['disconnect', 'cancel', 'reject'].forEach(function (name) {
          call.on(name, function () { if (incoming === call) incoming = null; });
        });
      });
      // Fired shortly before the token expires: fetch a fresh one and keep registered.
      device.on('tokenWillExpire', function () {
        api('GET', '/token').then(function (fresh) { device.updateToken(fresh.token); })
          .catch(function (err) { deviceStatus('令牌更新失败 Token renewal failed: ' + err.message); });
      });
      return device.register();
    }).catch(function (err) { deviceStatus('语音设备错误 Voice device error: ' + err.message); });
  }

  window.setInterval(tick, 250);
  poll();
  if (page.mode === 'twilio') startDevice();
}());
