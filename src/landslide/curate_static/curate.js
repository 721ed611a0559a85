// The curation gallery: keyboard and mouse over the server-rendered grid of photos.
// Decisions go to POST /api/decide with the page's session token; the server answers
// with the photos' new state and the counts, which this script shows. Text is only ever
// set with textContent (never innerHTML): titles and authors come from the internet.
(function () {
  "use strict";

  const CHUNK = 500; // photos per request (the server takes at most 1000)
  const token = document.querySelector('meta[name="curate-token"]').content;
  const grid = document.getElementById("grid");
  const cards = Array.from(grid.querySelectorAll(".card"));
  const bySha = new Map(cards.map((c) => [c.dataset.sha, c]));
  const filters = {
    decision: document.getElementById("f-decision"),
    source: document.getElementById("f-source"),
    licence: document.getElementById("f-licence"),
  };
  const viewer = document.getElementById("viewer");
  const message = document.getElementById("message");
  const selected = new Set();
  const undoStack = [];
  let visible = [];
  let focus = 0;
  let anchor = null; // last card clicked with its checkbox, for shift-click ranges
  let queue = Promise.resolve(); // requests run one after another, in key order

  // ------------------------------------------------------------------ filters

  function readFiltersFromUrl() {
    const params = new URLSearchParams(window.location.search);
    for (const [name, select] of Object.entries(filters)) {
      const value = params.get(name);
      if (value !== null && Array.from(select.options).some((o) => o.value === value)) {
        select.value = value;
      }
    }
  }

  function matches(card) {
    const d = filters.decision.value;
    if (d !== "all" && card.dataset.decision !== d) return false;
    if (filters.source.value && card.dataset.source !== filters.source.value) return false;
    if (filters.licence.value && card.dataset.licence !== filters.licence.value) return false;
    return true;
  }

  function applyFilters() {
    const current = visible[focus];
    visible = [];
    for (const card of cards) {
      const show = matches(card);
      card.hidden = !show;
      if (show) visible.push(card);
    }
    const params = new URLSearchParams();
    for (const [name, select] of Object.entries(filters)) {
      if (select.value) params.set(name, select.value);
    }
    window.history.replaceState(null, "", "?" + params.toString());
    document.getElementById("shown").textContent = visible.length + " shown";
    if (!visible.length && cards.length) {
      say("no photo matches these filters (" + cards.length + " in all): choose Show: all");
    } else if (message.textContent.startsWith("no photo matches")) {
      say("");
    }
    const keep = current ? visible.indexOf(current) : -1;
    setFocus(keep >= 0 ? keep : 0, false);
  }

  // ------------------------------------------------------------------ focus and selection

  function setFocus(index, scroll = true) {
    for (const card of cards) card.classList.remove("focused");
    if (!visible.length) {
      focus = 0;
      return;
    }
    focus = Math.max(0, Math.min(index, visible.length - 1));
    const card = visible[focus];
    card.classList.add("focused");
    if (scroll) {
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    if (!viewer.hidden) showViewer(card);
  }

  function columns() {
    if (visible.length < 2) return 1;
    const top = visible[0].offsetTop;
    let n = 0;
    while (n < visible.length && visible[n].offsetTop === top) n += 1;
    return Math.max(1, n);
  }

  function setSelected(card, on) {
    if (on) selected.add(card.dataset.sha);
    else selected.delete(card.dataset.sha);
    card.classList.toggle("selected", on);
    card.querySelector("input.select").checked = on;
  }

  function clearSelection() {
    for (const sha of Array.from(selected)) setSelected(bySha.get(sha), false);
    showSelection();
  }

  function showSelection() {
    document.getElementById("selection-count").textContent = selected.size + " selected";
  }

  function targets() {
    if (selected.size) return Array.from(selected);
    const card = visible[focus];
    return card ? [card.dataset.sha] : [];
  }

  // ------------------------------------------------------------------ the server

  function say(text, isError = false) {
    message.textContent = text;
    message.classList.toggle("error", isError);
  }

  async function send(items) {
    for (let i = 0; i < items.length; i += CHUNK) {
      let response;
      try {
        response = await fetch("/api/decide", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Curate-Token": token },
          body: JSON.stringify({ items: items.slice(i, i + CHUNK) }),
          credentials: "same-origin",
        });
      } catch (err) {
        say("the server cannot be reached: " + err, true);
        return false;
      }
      let data = null;
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
      if (!response.ok || !data) {
        say("not saved: " + ((data && data.error) || response.status), true);
        return false;
      }
      for (const photo of data.photos) render(photo);
      showCounts(data.counts);
    }
    return true;
  }

  function stateOf(sha) {
    const card = bySha.get(sha);
    return {
      sha256: sha,
      decision: card.dataset.decision,
      label: card.dataset.label,
      note: card.dataset.note,
    };
  }

  // Queue a change of `shas`; the state before it goes on the undo stack once saved.
  function change(shas, fields, done) {
    if (!shas.length) return;
    queue = queue.then(async () => {
      const before = shas.map(stateOf);
      const items = shas.map((sha) => Object.assign({ sha256: sha }, fields));
      if (await send(items)) {
        undoStack.push(before);
        const what = Object.values(fields).filter((v) => v).join(", ") || "cleared";
        say(shas.length + (shas.length === 1 ? " photo: " : " photos: ") + what);
        if (done) done();
      }
    });
  }

  function undo() {
    queue = queue.then(async () => {
      const before = undoStack.pop();
      if (!before) {
        say("nothing to undo");
        return;
      }
      if (await send(before)) {
        say("undone (" + before.length + (before.length === 1 ? " photo)" : " photos)"));
        const card = bySha.get(before[0].sha256);
        const index = visible.indexOf(card);
        if (index >= 0 && before.length === 1) setFocus(index);
      } else {
        undoStack.push(before);
      }
    });
  }

  function render(photo) {
    const card = bySha.get(photo.sha256);
    if (!card) return;
    card.dataset.decision = photo.decision;
    card.dataset.label = photo.label;
    card.dataset.note = photo.note;
    card.classList.remove("accepted", "rejected", "undecided");
    card.classList.add(photo.decision);
    card.querySelector(".decision").textContent = photo.decision;
    card.querySelector(".label").textContent = photo.label;
    if (!viewer.hidden && visible[focus] === card) showViewer(card);
  }

  function showCounts(counts) {
    for (const [key, value] of Object.entries(counts)) {
      const el = document.getElementById("count-" + key);
      if (el) el.textContent = String(value);
    }
    const bar = document.getElementById("progress-bar");
    bar.max = counts.total;
    bar.value = counts.decided;
  }

  // ------------------------------------------------------------------ actions

  function act(action, origin) {
    const single = !selected.size || origin !== undefined;
    const shas = origin !== undefined ? [origin.dataset.sha] : targets();
    const next = () => {
      if (single && origin === undefined) setFocus(focus + 1);
    };
    switch (action) {
      case "accept":
        change(shas, { decision: "accepted" }, next);
        break;
      case "reject":
        change(shas, { decision: "rejected" }, next);
        break;
      case "landslide":
      case "non-landslide":
      case "unsure":
        change(shas, { label: action });
        break;
      case "undo":
        undo();
        break;
      case "select-visible":
        for (const card of visible) setSelected(card, true);
        showSelection();
        break;
      case "clear":
        clearSelection();
        break;
      case "open":
        if (origin) setFocus(visible.indexOf(origin));
        openViewer();
        break;
      default:
        break;
    }
  }

  function selectGroup() {
    const card = visible[focus];
    if (!card || card.dataset.group === undefined) {
      say("this photo has no near-duplicates");
      return;
    }
    for (const other of cards) {
      if (other.dataset.group === card.dataset.group && !other.hidden) setSelected(other, true);
    }
    showSelection();
  }

  // ------------------------------------------------------------------ the viewer

  function safeLink(a, url) {
    if (url && /^https?:\/\//i.test(url)) {
      a.href = url;
      a.hidden = false;
    } else {
      a.removeAttribute("href");
      a.hidden = true;
    }
  }

  function showViewer(card) {
    const img = document.getElementById("viewer-img");
    const src = "/photo/" + card.dataset.sha;
    if (img.getAttribute("src") !== src) img.src = src;
    img.alt = card.querySelector(".meta .title").textContent;
    document.getElementById("viewer-title").textContent = img.alt;
    document.getElementById("viewer-info").textContent =
      card.querySelector(".meta .info").textContent + " — " + card.dataset.name;
    document.getElementById("viewer-state").textContent =
      card.dataset.decision + (card.dataset.label ? " · " + card.dataset.label : "");
    safeLink(document.getElementById("viewer-page"), card.dataset.pageUrl);
    safeLink(document.getElementById("viewer-licence"), card.dataset.licenceUrl);
    const note = document.getElementById("viewer-note");
    if (document.activeElement !== note) note.value = card.dataset.note || "";
  }

  function openViewer() {
    const card = visible[focus];
    if (!card) return;
    viewer.hidden = false;
    showViewer(card);
  }

  function closeViewer() {
    viewer.hidden = true;
    const card = visible[focus];
    if (card) card.focus({ preventScroll: true });
  }

  // ------------------------------------------------------------------ events

  function typing(target) {
    if (!target) return false;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    return tag === "INPUT" && target.type !== "checkbox";
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const key = event.key;
    const tag = event.target && event.target.tagName;
    // space and enter on a focused checkbox or button keep their own meaning (a click)
    if ((key === " " || key === "Enter") && (tag === "BUTTON" || tag === "INPUT")) return;
    const moves = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: viewer.hidden ? columns() : 1,
      ArrowUp: viewer.hidden ? -columns() : -1,
    };
    if (key in moves) {
      event.preventDefault();
      const from = visible[focus];
      setFocus(focus + moves[key]);
      if (event.shiftKey && from) {
        setSelected(from, true);
        setSelected(visible[focus], true);
        showSelection();
      }
      return;
    }
    const actions = {
      a: "accept",
      r: "reject",
      l: "landslide",
      n: "non-landslide",
      s: "unsure",
      u: "undo",
    };
    const lower = key.length === 1 ? key.toLowerCase() : key;
    if (lower in actions) {
      event.preventDefault();
      act(actions[lower]);
    } else if (key === " " || key === "x") {
      event.preventDefault();
      const card = visible[focus];
      if (card) {
        setSelected(card, !selected.has(card.dataset.sha));
        showSelection();
      }
    } else if (lower === "g") {
      event.preventDefault();
      selectGroup();
    } else if (key === "Enter" || lower === "o") {
      event.preventDefault();
      if (viewer.hidden) openViewer();
      else closeViewer();
    } else if (key === "Escape") {
      event.preventDefault();
      if (!viewer.hidden) closeViewer();
      else clearSelection();
    } else if (key === "Home") {
      event.preventDefault();
      setFocus(0);
    } else if (key === "End") {
      event.preventDefault();
      setFocus(visible.length - 1);
    }
  });

  grid.addEventListener("click", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    const checkbox = event.target.closest("input.select");
    if (checkbox) {
      const on = checkbox.checked;
      if (event.shiftKey && anchor && visible.includes(anchor)) {
        const [a, b] = [visible.indexOf(anchor), visible.indexOf(card)].sort((x, y) => x - y);
        for (let i = a; i <= b; i += 1) setSelected(visible[i], on);
      } else {
        setSelected(card, on);
      }
      anchor = card;
      showSelection();
      setFocus(visible.indexOf(card), false);
      return;
    }
    const button = event.target.closest("[data-action]");
    if (button) {
      event.preventDefault();
      act(button.dataset.action, card);
      return;
    }
    if (event.ctrlKey || event.metaKey) {
      setSelected(card, !selected.has(card.dataset.sha));
      showSelection();
    }
    setFocus(visible.indexOf(card), false);
  });

  document.getElementById("actions").addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button) act(button.dataset.action);
  });

  for (const select of Object.values(filters)) select.addEventListener("change", applyFilters);
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());

  document.getElementById("viewer-close").addEventListener("click", closeViewer);
  viewer.addEventListener("click", (event) => {
    if (event.target === viewer) closeViewer();
  });
  document.getElementById("viewer-note-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const card = visible[focus];
    const note = document.getElementById("viewer-note");
    if (card) change([card.dataset.sha], { note: note.value.slice(0, 500) });
    note.blur();
  });

  // a thumbnail that cannot be made shows as a grey box with the file name
  grid.addEventListener(
    "error",
    (event) => {
      if (event.target.tagName === "IMG") event.target.closest(".card").classList.add("broken");
    },
    true
  );

  // the sticky header must not hide the card that scrolls into view
  function padScroll() {
    const bar = document.querySelector(".bar");
    document.documentElement.style.scrollPaddingTop = bar.offsetHeight + 8 + "px";
  }
  window.addEventListener("resize", padScroll);
  padScroll();

  readFiltersFromUrl();
  applyFilters();
  if (visible.length) visible[0].focus({ preventScroll: true });
  document.body.dataset.ready = "true";
})();
