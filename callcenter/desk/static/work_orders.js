// Work orders at the desk (issue 16): the work-order fields of the wrap-up form and of the
// screen pop's form for an earlier contact, the keyword suggestion as the agent types, and the
// caller's work orders. Listens to desk.js's 'desk:state'; calls the API through window.desk.
// Data from the server is only ever put in the page with textContent (never as HTML).
(function () {
  'use strict';

  var options = null;       // categories, departments, outcomes
  var call = null;          // the call in hand (desk state)
  var contactShown = null;  // the earlier call whose form is open
  var SUGGEST_MS = 300;

  function $(id) { return document.getElementById(id); }
  function show(el, visible) { el.hidden = !visible; }
  function setText(el, value) { el.textContent = value == null ? '' : String(value); }
  function field(p, name) { return $(p + '-' + name); }

  function fill(select, choices, blank) {
    var key = JSON.stringify([choices, blank]);
    if (select.dataset.key === key) return;
    var keep = select.value;
    select.dataset.key = key;
    select.replaceChildren();
    if (blank != null) choices = [{ code: '', label: blank }].concat(choices);
    choices.forEach(function (c) {
      var option = document.createElement('option');
      option.value = c.code; option.textContent = c.label;
      select.appendChild(option);
    });
    if (keep && choices.some(function (c) { return c.code === keep; })) select.value = keep;
  }

  function category(code) {
    return ((options && options.categories) || []).filter(function (c) { return c.code === code; })[0];
  }

  function fillSubcategories(p) {
    var c = category(field(p, 'category').value);
    fill(field(p, 'subcategory'), c ? c.subcategories : [], '—');
  }

  // The choices of one form: categories and departments from the rules, the caller's orders
  // and returns from the screen pop.
  function fillForm(p) {
    if (!options) return;
    fill(field(p, 'category'), options.categories, '请选择 Choose…');
    fill(field(p, 'department'), options.departments, '请选择 Choose…');
    fillSubcategories(p);
    var customer = (call && call.customer) || {};
    fill(field(p, 'order'), (customer.orders || []).map(function (o) {
      return { code: o.number, label: o.number + ' · ' + o.status_label };
    }), '—');
    fill(field(p, 'rma'), (customer.open_rmas || []).map(function (r) {
      return { code: r.number, label: r.number + ' · ' + r.kind_label };
    }), '—');
  }

  // --- the suggestion: pre-fills what the agent has not chosen themselves ------------------

  var timers = {};

  function suggest(p) {
    window.clearTimeout(timers[p]);
    timers[p] = window.setTimeout(function () {
      var text = field(p, 'description').value;
      var line = field(p, 'suggestion');
      if (!text.trim()) { setText(line, ''); suggestArticles(''); return; }
      suggestArticles(text);
      window.desk.api('GET', '/work-orders/suggest?text=' + encodeURIComponent(text)).then(function (s) {
        if (field(p, 'description').value !== text) return;  // typed on meanwhile
        applySuggestion(p, s);
      }).catch(function (err) { window.desk.showError(err.message); });
    }, SUGGEST_MS);
  }

  function applySuggestion(p, s) {
    var line = field(p, 'suggestion');
    line.replaceChildren();
    if (!s.category) {
      setText(line, '无建议：请选择分类 No suggestion: choose the category');
      return;
    }
    var what = document.createElement('b');
    what.textContent = s.category_label + ' → ' + s.department_label;
    line.append('建议 Suggested: ', what);
    if (s.matched && s.matched.length) line.append(' (' + s.matched.join(', ') + ')');
    line.dataset.category = s.category;
    line.dataset.department = s.department;
    var c = field(p, 'category'), d = field(p, 'department'), sub = field(p, 'subcategory');
    if (!c.dataset.touched) { c.value = s.category; fillSubcategories(p); }
    if (!sub.dataset.touched && s.subcategory && !c.dataset.touched) sub.value = s.subcategory;
    if (!d.dataset.touched) d.value = s.department;
  }

  function wire(p) {
    field(p, 'description').addEventListener('input', function () { suggest(p); });
    field(p, 'category').addEventListener('change', function (e) {
      e.currentTarget.dataset.touched = '1';
      fillSubcategories(p);
      var c = category(e.currentTarget.value), d = field(p, 'department');
      if (c && !d.dataset.touched) d.value = c.department;  // the category's department
    });
    ['subcategory', 'department'].forEach(function (name) {
      field(p, name).addEventListener('change', function (e) { e.currentTarget.dataset.touched = '1'; });
    });
    field(p, 'fields').closest('form').addEventListener('reset', function () { clear(p); });
  }

  function clear(p) {
    ['category', 'subcategory', 'department'].forEach(function (name) { delete field(p, name).dataset.touched; });
    var line = field(p, 'suggestion');
    line.replaceChildren();
    delete line.dataset.category; delete line.dataset.department;
  }

  // The fields of one form, as the API takes them.
  function read(p) {
    var outcome = document.querySelector('input[name="' + p + '-outcome"]:checked');
    return {
      description: field(p, 'description').value,
      category: field(p, 'category').value,
      subcategory: field(p, 'subcategory').value || null,
      department: field(p, 'department').value,
      order: field(p, 'order').value || null,
      rma: field(p, 'rma').value || null,
      outcome: outcome ? outcome.value : null
    };
  }

  // --- the screen pop: the caller's work orders and earlier contacts -----------------------

  function renderWorkOrders(part) {
    var tbody = $('work-orders');
    tbody.replaceChildren();
    if (!part.caller.length) {
      var tr = document.createElement('tr'), td = document.createElement('td');
      td.colSpan = 6; td.className = 'muted';
      td.textContent = call && call.customer.known ? '无工单 None' : '未识别客户 Caller not identified';
      tr.appendChild(td); tbody.appendChild(tr);
    }
    part.caller.forEach(function (w) {
      var tr = document.createElement('tr');
      tr.dataset.number = w.number;
      [[w.number, 'mono'], [w.category_label], [w.department_label], [w.status_label, 'wo-status'],
       [w.age, 'wo-age'], [w.sla ? (w.status === 'closed' ? w.sla.label : w.sla.left || w.sla.label) : '—', 'wo-sla']
      ].forEach(function (cell) {
        var td = document.createElement('td');
        td.textContent = cell[0];
        if (cell[1]) td.className = cell[1];
        if (cell[1] === 'wo-status') td.dataset.status = w.status;
        if (cell[1] === 'wo-sla' && w.sla) { td.dataset.sla = w.sla.state; td.title = w.sla.label; }
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    var list = $('contacts');
    var key = JSON.stringify(part.contacts);
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren();
    if (!part.contacts.length) {
      var none = document.createElement('li');
      none.className = 'muted'; none.textContent = '无 None';
      list.appendChild(none);
    }
    part.contacts.forEach(function (c) {
      var li = document.createElement('li');
      var at = document.createElement('span'); at.className = 'mono'; at.textContent = c.at;
      var age = document.createElement('span'); age.className = 'muted'; age.textContent = c.age;
      var open = document.createElement('button');
      open.type = 'button'; open.className = 'open-contact-work-order';
      open.dataset.call = c.call_id;
      open.textContent = '开工单 Open a work order';
      open.addEventListener('click', function () { openContactForm(c); });
      li.append(at, age, open);
      list.appendChild(li);
    });
  }

  function openContactForm(contact) {
    var form = $('contact-work-order');
    form.reset();
    contactShown = contact;
    setText($('contact-at'), contact.at);
    show($('contact-result'), false);
    show(form, true);
    field('contact-wo', 'description').focus();
  }

  function closeContactForm() {
    contactShown = null;
    show($('contact-work-order'), false);
  }

  $('contact-work-order').addEventListener('submit', function (e) {
    e.preventDefault();
    var save = $('save-contact-work-order');
    if (save.disabled || !contactShown) return;
    save.disabled = true;
    window.desk.showError(null);
    var body = read('contact-wo');
    body.contact = contactShown.call_id;
    window.desk.api('POST', '/work-orders', body).then(function (done) {
      var banner = $('contact-result');
      setText(banner, '工单 ' + done.number + ' 已开（' + done.status_label + '） · Work order ' +
        done.number + ' opened');
      show(banner, true);
      closeContactForm();
    }).catch(function (err) {
      window.desk.showError(err.message);
    }).then(function () { save.disabled = false; });
  });
  $('cancel-contact-work-order').addEventListener('click', closeContactForm);

  // --- the knowledge base: articles for the call, or the search's ---------------------------

  var searching = false;  // the list shows a search's results (not the suggestions)

  function suggestArticles(text) {
    if (searching) return;
    window.desk.api('GET', '/knowledge/suggest?text=' + encodeURIComponent(text)).then(function (r) {
      if (!searching) renderArticles(r.articles, '暂无推荐 No suggestion yet');
    }).catch(function (err) { window.desk.showError(err.message); });
  }

  function renderArticles(articles, empty) {
    var list = $('articles');
    list.replaceChildren();
    if (!articles.length) {
      var none = document.createElement('li');
      none.className = 'muted'; none.textContent = empty;
      list.appendChild(none);
    }
    articles.forEach(function (a) {
      var li = document.createElement('li');
      li.dataset.slug = a.slug;
      var h = document.createElement('h4');
      h.textContent = a.title.zh + ' · ' + a.title.en;
      var why = document.createElement('div');
      why.className = 'why';
      why.textContent = [a.category_label].concat(a.reasons).join(' · ') + ' · v' + a.version;
      var dl = document.createElement('dl');
      [['标准答复 Answer', a.answer, ''], ['标准话术 Wording', a.wording, 'wording']].forEach(function (part) {
        var dt = document.createElement('dt'); dt.textContent = part[0];
        dl.appendChild(dt);
        ['zh', 'en'].forEach(function (lang) {
          var dd = document.createElement('dd');
          dd.lang = lang === 'zh' ? 'zh-CN' : 'en';
          dd.className = part[2];
          dd.textContent = part[1][lang];
          dl.appendChild(dd);
        });
      });
      li.append(h, why, dl);
      a.links.forEach(function (link) {
        var anchor = document.createElement('a');
        anchor.href = link.url; anchor.textContent = link.title;
        anchor.target = '_blank'; anchor.rel = 'noopener noreferrer';
        li.appendChild(anchor);
      });
      list.appendChild(li);
    });
  }

  $('knowledge-search').addEventListener('submit', function (e) {
    e.preventDefault();
    var q = $('knowledge-q').value.trim();
    searching = !!q;
    setText($('knowledge-heading'), searching ? '搜索结果 Search results' : '推荐 Suggested for this call');
    if (!searching) { suggestArticles(field('wo', 'description').value); return; }
    window.desk.api('GET', '/knowledge/search?q=' + encodeURIComponent(q)).then(function (r) {
      if (searching) renderArticles(r.articles, '没有找到 Nothing found');
    }).catch(function (err) { window.desk.showError(err.message); });
  });

  document.addEventListener('desk:state', function (e) {
    var view = e.detail;
    var entry = call && call.entry_id;
    call = view.call;
    options = view.work_orders && view.work_orders.options;
    if (call && call.entry_id !== entry) suggestArticles('');  // a new call: by its IVR path
    if (!call || call.entry_id !== entry) { closeContactForm(); show($('contact-result'), false); }
    if (!call || !view.work_orders) return;
    fillForm('wo');
    fillForm('contact-wo');
    renderWorkOrders(view.work_orders);
  });

  wire('wo');
  wire('contact-wo');
  window.deskWorkOrders = { read: read };
}());
