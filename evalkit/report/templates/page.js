// evalkit report script: sortable tables and paginated item tables built from the
// JSON data blocks. Data is only ever inserted with textContent, never as HTML.
(function () {
  "use strict";
  const AUDIO = JSON.parse(document.getElementById("audio-sources").textContent);

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fmt(x) {
    if (x === null || x === undefined) return "-";
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
    return String(Number(x.toPrecision(4)));
  }

  // Numbers compare as numbers, text as text; blanks always last.
  function compareValues(a, b, ascending) {
    const blankA = a === null || a === undefined || a === "";
    const blankB = b === null || b === undefined || b === "";
    if (blankA || blankB) return blankA - blankB;
    const x = Number(a), y = Number(b);
    const order = (isNaN(x) || isNaN(y)) ? String(a).localeCompare(String(b)) : x - y;
    return ascending ? order : -order;
  }

  function markSorted(headers, th, ascending) {
    headers.forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = ascending ? "asc" : "desc";
  }

  // Leaderboards: a click on a header sorts the run rows (topline rows stay on top).
  document.querySelectorAll("table.leaderboard").forEach(function (table) {
    const headers = table.querySelectorAll("th[data-col]");
    headers.forEach(function (th) {
      th.addEventListener("click", function () {
        const col = Number(th.dataset.col);
        const ascending = th.dataset.dir !== "asc";
        markSorted(headers, th, ascending);
        table.querySelectorAll("tbody.runs").forEach(function (body) {
          const rows = Array.from(body.rows);
          rows.sort(function (r, s) { return compareValues(r.cells[col].dataset.v, s.cells[col].dataset.v, ascending); });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  });

  // --- item tables ----------------------------------------------------------------
  function itemCell(c) {
    const box = el("div");
    box.appendChild(el("div", "mono", c.id));
    (c.tags || []).forEach(function (t) { box.appendChild(el("span", "tag", t)); });
    if (c.emb) box.appendChild(el("span", "badge", "embedded"));
    if (c.err) box.appendChild(el("div", "err", c.err));
    return box;
  }

  function transcript(ops) {
    const line = el("div", "transcript");
    ops.forEach(function (op) {
      if (op[0] === "=") line.appendChild(el("span", null, op[1]));
      else if (op[0] === "D") line.appendChild(el("del", null, op[1]));
      else if (op[0] === "I") line.appendChild(el("ins", null, op[1]));
      else if (op[0] === "S") { line.appendChild(el("del", null, op[1])); line.appendChild(document.createTextNode(" ")); line.appendChild(el("ins", null, op[2])); }
      line.appendChild(document.createTextNode(" "));
    });
    return line;
  }

  function speechCell(c) {
    const box = el("div", "speech");
    box.appendChild(el("div", "text", c.text));
    if (c.ops) box.appendChild(transcript(c.ops));
    else if (c.tr !== undefined && c.tr !== null) box.appendChild(el("div", "transcript", c.tr));
    return box;
  }

  function audioCell(clips) {
    const box = el("div", "clips");
    clips.forEach(function (clip) {
      const src = AUDIO[clip[1]];
      if (!src) return;
      const fig = el("figure");
      fig.appendChild(el("figcaption", null, clip[0]));
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = src;
      fig.appendChild(audio);
      box.appendChild(fig);
    });
    return box;
  }

  const RENDER = { item: itemCell, speech: speechCell, audio: audioCell };

  function sortKey(kind, cell) {
    if (kind === "item") return cell.id;
    if (kind === "speech") return cell.text;
    if (kind === "num") return cell;
    return null;
  }

  function searchable(row) {
    return row.map(function (cell) {
      if (cell && typeof cell === "object" && !Array.isArray(cell)) return [cell.id, cell.text, cell.tr, (cell.tags || []).join(" ")].join(" ");
      return "";
    }).join(" ").toLowerCase();
  }

  function ItemTable(host) {
    this.spec = JSON.parse(document.getElementById("data-" + host.dataset.table).textContent);
    this.host = host;
    this.page = 0;
    this.sortCol = null;
    this.ascending = true;
    this.filter = "";
    this.index = this.spec.rows.map(searchable);
    this.build();
    this.render();
  }

  ItemTable.prototype.build = function () {
    const self = this;
    const controls = el("div", "controls");
    const search = el("input");
    search.type = "search";
    search.placeholder = "filter by id, text, transcript, tag";
    search.addEventListener("input", function () { self.filter = search.value.toLowerCase(); self.page = 0; self.render(); });
    this.prev = el("button", null, "‹ prev");
    this.next = el("button", null, "next ›");
    this.status = el("span", "detail");
    this.prev.addEventListener("click", function () { self.page -= 1; self.render(); });
    this.next.addEventListener("click", function () { self.page += 1; self.render(); });
    [search, this.prev, this.status, this.next].forEach(function (n) { controls.appendChild(n); });
    const wrap = el("div", "scroll");
    const table = el("table", "items");
    const head = el("tr");
    this.headers = [];
    this.spec.columns.forEach(function (col, i) {
      const th = el("th", col.kind === "num" ? "num" : null, col.label);
      if (col.kind !== "audio") {
        th.dataset.col = String(i);
        th.addEventListener("click", function () {
          self.ascending = self.sortCol === i ? !self.ascending : true;
          self.sortCol = i;
          markSorted(self.headers, th, self.ascending);
          self.page = 0;
          self.render();
        });
      }
      self.headers.push(th);
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    this.body = table.appendChild(el("tbody"));
    wrap.appendChild(table);
    this.host.appendChild(controls);
    this.host.appendChild(wrap);
  };

  ItemTable.prototype.view = function () {
    const self = this;
    let rows = this.spec.rows.filter(function (row, i) { return !self.filter || self.index[i].includes(self.filter); });
    if (this.sortCol !== null) {
      const kind = this.spec.columns[this.sortCol].kind;
      rows = rows.slice().sort(function (r, s) {
        return compareValues(sortKey(kind, r[self.sortCol]), sortKey(kind, s[self.sortCol]), self.ascending);
      });
    }
    return rows;
  };

  ItemTable.prototype.render = function () {
    const rows = this.view();
    const size = this.spec.page_size;
    const pages = Math.max(1, Math.ceil(rows.length / size));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const columns = this.spec.columns;
    this.body.replaceChildren();
    rows.slice(this.page * size, (this.page + 1) * size).forEach(function (row) {
      const tr = el("tr");
      row.forEach(function (cell, i) {
        const kind = columns[i].kind;
        const td = el("td", kind === "num" ? "num" : null);
        if (kind === "num") td.textContent = fmt(cell);
        else td.appendChild(RENDER[kind](cell));
        tr.appendChild(td);
      });
      this.body.appendChild(tr);
    }, this);
    this.status.textContent = "page " + (this.page + 1) + " of " + pages + " · " + rows.length + " items";
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  };

  document.querySelectorAll(".item-table").forEach(function (host) { new ItemTable(host); });
})();
