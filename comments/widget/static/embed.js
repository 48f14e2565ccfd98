/* The comments widget (README: "Put comments on your site"). Plain JavaScript, no build step.
 * Only textContent and the service's sanitised body_html reach the DOM. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="/widget/embed.js"]');
  if (!script) return;
  var BASE = new URL("..", script.src).href; // the service, from this script's own address
  var API = BASE + "api/v1/";
  var CSS = BASE + "widget/embed.css?v=__EMBED_CSS_VERSION__";
  var STORE = "comments.v1.";
  var MAX_INDENT = 3; // nesting shown as indentation; deeper replies are listed flat
  var SHOW_REPLIES = 3; // replies shown before "show more"
  var MORE_REPLIES = 10; // replies added per "show more"
  var PAGE = 20; // root comments per page
  var POLL_FIRST = 1000, POLL_MAX = 30000, POLL_FOR = 10 * 60 * 1000;
  // The report reasons the API takes (models.REPORT_REASONS), filled in when served.
  var REASONS = __REPORT_REASONS__;
  var TOKEN_DAYS = 7;

  var STRINGS = {
    en: {
      comments: "Comments", count1: "1 comment", countN: "{n} comments",
      empty: "No comments yet. Be the first to comment.",
      sort: "Sort", oldest: "Oldest first", newest: "Newest first", top: "Most replies",
      loadMore: "Load more comments", more1: "Show 1 more reply", moreN: "Show {n} more replies", moreReplies: "Show more replies",
      replyingTo: "replying to {name}", deleted: "This comment was deleted.", edited: "edited",
      reply: "Reply", edit: "Edit", del: "Delete", report: "Report", cancel: "Cancel", save: "Save",
      reallyDelete: "Delete this comment for good?", yesDelete: "Yes, delete", no: "No",
      name: "Name", email: "Email (optional, never shown)", text: "Your comment", textReply: "Your reply",
      write: "Write", preview: "Preview", post: "Post comment", postReply: "Post reply",
      hint: "Markdown works: *italic*, **bold**, `code`, > quote, links.",
      noPreview: "Nothing to preview yet.", sending: "Sending…", loading: "Loading comments…",
      published: "Your comment is published.", nowPublished: "Your comment is now published.",
      waiting: "Waiting for review", rejectedBadge: "Not published", yours: "you",
      note_pending: "Your comment is being checked and will appear shortly.",
      note_held: "Your comment is waiting for review by a moderator.",
      note_rejected: "Your comment was not published because it does not follow this site's rules.",
      deletedOk: "Your comment was deleted.", savedOk: "Your changes are saved.",
      reportWhy: "Why are you reporting this comment?", reported: "Reported",
      reportThanks: "Thank you. A moderator will look at this comment.",
      spam: "Spam", abuse: "Abuse or harassment", offensive: "Offensive", other: "Something else",
      closed: "This thread is closed to new comments.",
      needName: "Please enter your name.", needText: "Please write something first.",
      e413: "Your comment is too large to send (the service accepts at most 64 KiB). Please shorten it.",
      e422: "Please check your comment: {details}",
      tooLong: "{what} is {n} characters long; at most {max} are allowed.",
      e429: "You are commenting too fast. Please wait {wait} and try again.",
      e503: "The comment service is busy. Please try again in {wait}.",
      e409: "You have already posted this comment here.",
      eWindow: "The time to change this comment is over.",
      eToken: "This comment can no longer be changed from this browser.",
      eOrigin: "Comments cannot be shown here: this website is not allowed by the comment service.",
      eNetwork: "The comment service could not be reached. Your text is kept; please try again.",
      eOther: "Something went wrong ({code}). Your text is kept; please try again.",
      eGone: "This comment no longer exists.",
      loadFailed: "The comments could not be loaded.", retry: "Try again",
      seconds1: "1 second", secondsN: "{n} seconds", minutes1: "1 minute", minutesN: "{n} minutes",
      bodyWhat: "Your comment", nameWhat: "Your name",
      signIn: "Sign in to comment", signOut: "Sign out", signedIn: "Signed in as",
      verified: "Verified account", eBanned: "You can no longer comment on this site.",
      eSuspended: "You cannot comment until {until}.", eSession: "Your sign-in is no longer valid. Please sign in again."
    },
    fr: {
      comments: "Commentaires", count1: "1 commentaire", countN: "{n} commentaires",
      empty: "Aucun commentaire pour l’instant. Soyez le premier à commenter.",
      sort: "Trier", oldest: "Plus anciens", newest: "Plus récents", top: "Plus de réponses",
      loadMore: "Afficher plus de commentaires", more1: "Afficher 1 autre réponse", moreN: "Afficher {n} autres réponses", moreReplies: "Afficher d’autres réponses",
      replyingTo: "en réponse à {name}", deleted: "Ce commentaire a été supprimé.", edited: "modifié",
      reply: "Répondre", edit: "Modifier", del: "Supprimer", report: "Signaler", cancel: "Annuler", save: "Enregistrer",
      reallyDelete: "Supprimer définitivement ce commentaire ?", yesDelete: "Oui, supprimer", no: "Non",
      name: "Nom", email: "E-mail (facultatif, jamais affiché)", text: "Votre commentaire", textReply: "Votre réponse",
      write: "Écrire", preview: "Aperçu", post: "Publier", postReply: "Répondre",
      hint: "Markdown accepté : *italique*, **gras**, `code`, > citation, liens.",
      noPreview: "Rien à prévisualiser.", sending: "Envoi…", loading: "Chargement des commentaires…",
      published: "Votre commentaire est publié.", nowPublished: "Votre commentaire est maintenant publié.",
      waiting: "En attente de modération", rejectedBadge: "Non publié", yours: "vous",
      note_pending: "Votre commentaire est en cours de vérification et apparaîtra bientôt.",
      note_held: "Votre commentaire attend la relecture d’un modérateur.",
      note_rejected: "Votre commentaire n’a pas été publié car il ne respecte pas les règles du site.",
      deletedOk: "Votre commentaire a été supprimé.", savedOk: "Vos modifications sont enregistrées.",
      reportWhy: "Pourquoi signalez-vous ce commentaire ?", reported: "Signalé",
      reportThanks: "Merci. Un modérateur va examiner ce commentaire.",
      spam: "Spam", abuse: "Abus ou harcèlement", offensive: "Choquant", other: "Autre chose",
      closed: "Les commentaires sont fermés pour cet article.",
      needName: "Indiquez votre nom.", needText: "Écrivez d’abord quelque chose.",
      e413: "Votre commentaire est trop volumineux (64 Kio au plus). Raccourcissez-le.",
      e422: "Vérifiez votre commentaire : {details}",
      tooLong: "{what} fait {n} caractères ; {max} au plus sont acceptés.",
      e429: "Vous commentez trop vite. Attendez {wait} puis réessayez.",
      e503: "Le service de commentaires est surchargé. Réessayez dans {wait}.",
      e409: "Vous avez déjà publié ce commentaire ici.",
      eWindow: "Le délai pour modifier ce commentaire est écoulé.",
      eToken: "Ce commentaire ne peut plus être modifié depuis ce navigateur.",
      eOrigin: "Les commentaires ne peuvent pas s’afficher ici : ce site n’est pas autorisé par le service.",
      eNetwork: "Le service de commentaires est injoignable. Votre texte est conservé ; réessayez.",
      eOther: "Une erreur est survenue ({code}). Votre texte est conservé ; réessayez.",
      eGone: "Ce commentaire n’existe plus.",
      loadFailed: "Les commentaires n’ont pas pu être chargés.", retry: "Réessayer",
      seconds1: "1 seconde", secondsN: "{n} secondes", minutes1: "1 minute", minutesN: "{n} minutes",
      bodyWhat: "Votre commentaire", nameWhat: "Votre nom",
      signIn: "Connectez-vous pour commenter", signOut: "Se déconnecter", signedIn: "Connecté en tant que",
      verified: "Compte vérifié", eBanned: "Vous ne pouvez plus commenter sur ce site.",
      eSuspended: "Vous ne pouvez pas commenter avant le {until}.", eSession: "Votre connexion n’est plus valide. Reconnectez-vous."
    },
    de: {
      comments: "Kommentare", count1: "1 Kommentar", countN: "{n} Kommentare",
      empty: "Noch keine Kommentare. Schreiben Sie den ersten.",
      sort: "Sortieren", oldest: "Älteste zuerst", newest: "Neueste zuerst", top: "Meiste Antworten",
      loadMore: "Weitere Kommentare laden", more1: "1 weitere Antwort zeigen", moreN: "{n} weitere Antworten zeigen", moreReplies: "Weitere Antworten zeigen",
      replyingTo: "Antwort an {name}", deleted: "Dieser Kommentar wurde gelöscht.", edited: "bearbeitet",
      reply: "Antworten", edit: "Bearbeiten", del: "Löschen", report: "Melden", cancel: "Abbrechen", save: "Speichern",
      reallyDelete: "Diesen Kommentar endgültig löschen?", yesDelete: "Ja, löschen", no: "Nein",
      name: "Name", email: "E-Mail (freiwillig, nie angezeigt)", text: "Ihr Kommentar", textReply: "Ihre Antwort",
      write: "Schreiben", preview: "Vorschau", post: "Kommentar senden", postReply: "Antwort senden",
      hint: "Markdown geht: *kursiv*, **fett**, `Code`, > Zitat, Links.",
      noPreview: "Noch nichts für die Vorschau.", sending: "Wird gesendet…", loading: "Kommentare werden geladen…",
      published: "Ihr Kommentar ist veröffentlicht.", nowPublished: "Ihr Kommentar ist jetzt veröffentlicht.",
      waiting: "Wartet auf Prüfung", rejectedBadge: "Nicht veröffentlicht", yours: "Sie",
      note_pending: "Ihr Kommentar wird geprüft und erscheint gleich.",
      note_held: "Ihr Kommentar wartet auf die Prüfung durch die Moderation.",
      note_rejected: "Ihr Kommentar wurde nicht veröffentlicht, weil er gegen die Regeln der Seite verstößt.",
      deletedOk: "Ihr Kommentar wurde gelöscht.", savedOk: "Ihre Änderungen sind gespeichert.",
      reportWhy: "Warum melden Sie diesen Kommentar?", reported: "Gemeldet",
      reportThanks: "Danke. Die Moderation sieht sich den Kommentar an.",
      spam: "Spam", abuse: "Beleidigung oder Belästigung", offensive: "Anstößig", other: "Etwas anderes",
      closed: "Die Kommentare zu diesem Artikel sind geschlossen.",
      needName: "Bitte geben Sie Ihren Namen ein.", needText: "Bitte schreiben Sie zuerst etwas.",
      e413: "Ihr Kommentar ist zu groß zum Senden (höchstens 64 KiB). Bitte kürzen Sie ihn.",
      e422: "Bitte prüfen Sie Ihren Kommentar: {details}",
      tooLong: "{what} ist {n} Zeichen lang; höchstens {max} sind erlaubt.",
      e429: "Sie kommentieren zu schnell. Bitte warten Sie {wait} und versuchen Sie es erneut.",
      e503: "Der Kommentardienst ist ausgelastet. Bitte versuchen Sie es in {wait} erneut.",
      e409: "Diesen Kommentar haben Sie hier schon geschrieben.",
      eWindow: "Die Zeit zum Ändern dieses Kommentars ist abgelaufen.",
      eToken: "Dieser Kommentar kann in diesem Browser nicht mehr geändert werden.",
      eOrigin: "Kommentare können hier nicht angezeigt werden: Diese Website ist beim Kommentardienst nicht zugelassen.",
      eNetwork: "Der Kommentardienst ist nicht erreichbar. Ihr Text bleibt erhalten; bitte erneut versuchen.",
      eOther: "Etwas ist schiefgegangen ({code}). Ihr Text bleibt erhalten; bitte erneut versuchen.",
      eGone: "Diesen Kommentar gibt es nicht mehr.",
      loadFailed: "Die Kommentare konnten nicht geladen werden.", retry: "Erneut versuchen",
      seconds1: "1 Sekunde", secondsN: "{n} Sekunden", minutes1: "1 Minute", minutesN: "{n} Minuten",
      bodyWhat: "Ihr Kommentar", nameWhat: "Ihr Name",
      signIn: "Zum Kommentieren anmelden", signOut: "Abmelden", signedIn: "Angemeldet als",
      verified: "Verifiziertes Konto", eBanned: "Sie können auf dieser Seite nicht mehr kommentieren.",
      eSuspended: "Sie können erst ab {until} wieder kommentieren.", eSession: "Ihre Anmeldung ist nicht mehr gültig. Bitte melden Sie sich erneut an."
    }
  };

  // The host's API (README, "Signed-in readers"), shared by every widget on the page, and by a
  // second copy of this script.
  var CE = window.CommentsEmbed = window.CommentsEmbed || { widgets: [],
    login: function (token) { return Promise.all(CE.widgets.map(function (w) { return w.login(token); })); },
    logout: function () { return Promise.all(CE.widgets.map(function (w) { return w.logout(); })); } };

  function store(key, value) {
    try {
      if (value === undefined) return JSON.parse(localStorage.getItem(STORE + key));
      localStorage.setItem(STORE + key, JSON.stringify(value));
    } catch (e) { return null; } // storage off (private mode, blocked): the widget still works
  }

  // h("p", {class: "x", text: "..."}, children): elements built from text only, never from HTML
  // (a string child is a text node). A button is type=button unless it says otherwise.
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    if (tag === "button") el.type = "button";
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    (children || []).forEach(function (c) { if (c) el.append(c); });
    return el;
  }

  function Widget(host) {
    var site = host.getAttribute("data-site") || "";
    var thread = host.getAttribute("data-thread") || "";
    var title = host.getAttribute("data-title") || document.title;
    var pageUrl = host.getAttribute("data-url") || location.href.split("#")[0];
    var langs = [host.getAttribute("data-lang"), document.documentElement.lang, navigator.language];
    var lang = "en";
    for (var i = 0; i < langs.length; i++) {
      var l = (langs[i] || "").toLowerCase().split("-")[0];
      if (STRINGS[l]) { lang = l; break; }
    }
    var S = STRINGS[lang];
    var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
    var exact = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" });
    var uid = 0;
    var entries = {}; // comment id -> {data, li, depth, flat (the list its replies go to)}
    // comment id -> {t: edit token, u: editable until, s: site, k: thread, a: saved at, r: posted signed in}
    var mine = store("mine") || {};
    Object.keys(mine).forEach(function (k) { // a token lets its author read for a week: forget older ones
      if (!(mine[k].a > Date.now() - TOKEN_DAYS * 86400000)) delete mine[k];
    });
    var state = { sort: store("sort") || "oldest", cursor: null, closed: false, count: 0 };
    // The host's signed-in reader: the token lives here only, sent as a Bearer header by the calls
    // made as the reader, never in an address or in storage. ident: GET .../identity's answer.
    var token = host.getAttribute("data-sso-token") || null;
    var ident = { identity: "anonymous", reader: null };
    if (["oldest", "newest", "top"].indexOf(state.sort) < 0) state.sort = "oldest";

    function t(key, values) {
      return (S[key] || STRINGS.en[key] || key).replace(/\{(\w+)\}/g, function (m, name) {
        return values && values[name] !== undefined ? String(values[name]) : m;
      });
    }
    function plural(one, many, n) { return n === 1 ? t(one) : t(many, { n: n }); }
    function id(prefix) { uid += 1; return "c" + uid + "-" + prefix; }

    // --- the frame: a shadow root, so the host's styles and ours never meet
    var shadow = host.shadowRoot || host.attachShadow({ mode: "open" });
    // data-state (loading, ready, error) lets the host and tests know where the widget is.
    var root = h("div", { class: "root", lang: lang, hidden: true, "data-state": "loading" });
    var live = h("div", { class: "sr", role: "status", "aria-live": "polite" });
    var heading = h("h2", { class: "title", id: id("title"), text: t("comments") });
    var sortSelect = h("select", { id: id("sort"), onchange: function () { state.sort = sortSelect.value; store("sort", state.sort); load(); } });
    ["oldest", "newest", "top"].forEach(function (s) {
      sortSelect.appendChild(h("option", { value: s, text: t(s), selected: s === state.sort }));
    });
    var toolbar = h("div", { class: "toolbar" }, [heading, h("span", { class: "sorting" }, [
      h("label", { class: "sort", for: sortSelect.id, text: t("sort") }), sortSelect])]);
    var formSlot = h("div", { class: "new" });
    var list = h("ul", { class: "list", "aria-labelledby": heading.id });
    var message = h("p", { class: "message" });
    var moreButton = h("button", { class: "more-roots", text: t("loadMore"), hidden: true, onclick: function () { load(true); } });
    var section = h("section", { "aria-labelledby": heading.id }, [toolbar, formSlot, message, list, moreButton, live]);
    root.appendChild(section);
    var link = h("link", { rel: "stylesheet", href: CSS });
    link.addEventListener("load", function () { root.hidden = false; });
    link.addEventListener("error", function () { root.hidden = false; });
    setTimeout(function () { root.hidden = false; }, 3000); // a slow stylesheet must not hide comments
    shadow.replaceChildren(link, root);

    function announce(text) {
      // A fresh text node each time, so screen readers announce a repeated message too.
      live.textContent = "";
      setTimeout(function () { live.textContent = text; }, 50);
    }

    // --- light or dark: the host's choice, else the host's background, else the system's
    var media = window.matchMedia ? matchMedia("(prefers-color-scheme: dark)") : null;
    function background(el) {
      for (; el && el.nodeType === 1; el = el.parentElement || (el.getRootNode && el.getRootNode().host)) {
        var m = /rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)(?:[,/ ]+([\d.]+%?))?/.exec(getComputedStyle(el).backgroundColor);
        if (m && (m[4] === undefined || parseFloat(m[4]) > 0)) return [+m[1], +m[2], +m[3]];
      }
      return null;
    }
    function applyTheme() {
      var wanted = host.getAttribute("data-theme");
      var dark;
      if (wanted === "dark" || wanted === "light") dark = wanted === "dark";
      else {
        var bg = background(host);
        dark = bg ? (0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]) < 128 : !!(media && media.matches);
      }
      root.classList.toggle("dark", dark);
    }
    applyTheme();
    if (media && media.addEventListener) media.addEventListener("change", applyTheme);
    var observer = new MutationObserver(applyTheme);
    [document.documentElement, document.body, host].forEach(function (el) {
      if (el) observer.observe(el, { attributes: true, attributeFilter: ["class", "style", "data-theme"] });
    });

    // --- talking to the public API
    function call(method, path, body, edit, bearer) {
      var headers = {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (edit) headers["X-Edit-Token"] = edit;
      if (bearer) headers.Authorization = "Bearer " + bearer;
      var payload = body === undefined ? undefined : JSON.stringify(body);
      return fetch(API + path, { method: method, headers: headers, body: payload, credentials: "omit", mode: "cors" })
        .then(function (r) {
          if (r.status === 204) return null;
          return r.json().catch(function () { return null; }).then(function (data) {
            if (r.ok) { if (data) data.httpStatus = r.status; return data; }
            var err = (data && data.error) || { code: "http_" + r.status };
            var e = new Error(err.message || err.code);
            e.status = r.status; e.code = err.code; e.fields = err.fields;
            e.wait = parseInt(r.headers.get("Retry-After"), 10) || 0;
            throw e;
          });
        }, function () {
          var e = new Error("network");
          // The browser hides a refused request's answer; a body over the limit is the likely 413.
          e.status = payload && payload.length > 65536 ? 413 : 0;
          e.code = e.status ? "payload_too_large" : "network";
          throw e;
        });
    }
    function sitePath() { return "sites/" + encodeURIComponent(site) + "/"; }
    function threadPath() { return sitePath() + "threads/" + encodeURIComponent(thread) + "/"; }

    // A call made as the reader: with their token; a token refused, or none where one is needed,
    // signs them out and asks the host to sign them in.
    function act(method, path, body, edit) {
      return call(method, path, body, edit, token).catch(function (e) {
        if (e.code === "invalid_token" || e.code === "sign_in_required") {
          if (e.code === "sign_in_required") ident.identity = "sso";
          token = ident.reader = null;
          loginRequired(e.code);
          reshow(e.code === "invalid_token" && t("eSession"));
        }
        throw e;
      });
    }

    // An answer for a token since replaced (login() or logout() meanwhile) is dropped.
    function identify() {
      var sent = token;
      return call("GET", sitePath() + "identity", undefined, null, sent).then(function (data) { if (sent === token) ident = data; }, function (e) {
        // Unreachable (the thread's load says so) or an older service: the reader stays anonymous.
        if (e.code !== "invalid_token" || sent !== token) return;
        token = null;
        loginRequired(e.code);
        return identify();
      });
    }

    // The host's cue to sign its reader in: bubbles from the widget's element up to document. A
    // listener's preventDefault() keeps the "Sign in" link from being followed.
    function loginRequired(why) {
      return host.dispatchEvent(new CustomEvent("comments:login-required", {
        bubbles: true, composed: true, cancelable: true, detail: { site: site, thread: thread, reason: why } }));
    }
    function needSignIn() { return ident.identity === "sso" && !ident.reader; }

    function login(value) {
      token = value || null;
      return (who = identify()).then(function () { reshow(); });
    }
    function logout() {
      var was = token;
      token = ident.reader = null;
      // What the reader posted signed in is no longer this browser's to change.
      Object.keys(mine).forEach(function (k) { if (mine[k].r) delete mine[k]; });
      store("mine", mine);
      // Revoke the token's jti; whatever the answer, it is forgotten here.
      return (was ? call("POST", sitePath() + "sso/logout", undefined, null, was).catch(function () {}) : Promise.resolve())
        .then(function () { reshow(); });
    }
    // The reader changed: the form, and the Edit/Delete buttons that the token allowed.
    function reshow(note) {
      renderForm(note);
      refill();
    }
    function refill() { Object.keys(entries).forEach(function (k) { fillMain(entries[k]); }); }
    function waitText(seconds) {
      seconds = Math.max(1, seconds || 60);
      if (seconds < 60) return plural("seconds1", "secondsN", seconds);
      var minutes = Math.ceil(seconds / 60);
      return plural("minutes1", "minutesN", minutes);
    }
    // Error codes that a sentence of their own explains.
    var CODES = { duplicate_comment: "e409", thread_closed: "closed", edit_window_closed: "eWindow", not_editable: "eWindow",
      origin_not_allowed: "eOrigin", comment_not_found: "eGone", sign_in_required: "signIn", invalid_token: "eSession" };
    function describe(e, text, name) {
      var code = e.code || "";
      if (e.status === 413) return t("e413");
      if (e.status === 429) return t("e429", { wait: waitText(e.wait) });
      if (e.status === 503) return t("e503", { wait: waitText(e.wait) });
      if (code === "thread_closed") setClosed(true, true);
      if (CODES[code]) return t(CODES[code]);
      if (!code.indexOf("edit_token")) return t("eToken");
      if (code === "author_banned" || code === "author_suspended") {
        var until = new Date([].concat((e.fields || {}).until)[0]);
        return until > 0 ? t("eSuspended", { until: exact.format(until) }) : t("eBanned");
      }
      if (e.status === 422) {
        var parts = [];
        var fields = e.fields || {};
        Object.keys(fields).forEach(function (f) {
          if (f === "body" && text !== undefined && text.length > 10000) parts.push(t("tooLong", { what: t("bodyWhat"), n: text.length, max: 10000 }));
          else if (f === "author_name" && name !== undefined && name.trim().length > 64) parts.push(t("tooLong", { what: t("nameWhat"), n: name.trim().length, max: 64 }));
          else parts.push([].concat(fields[f]).join(" "));
        });
        return t("e422", { details: parts.join(" ") || e.message });
      }
      if (e.status === 0) return t("eNetwork");
      return t("eOther", { code: e.code || e.status });
    }

    // --- times
    function relative(date) {
      var s = (date.getTime() - Date.now()) / 1000;
      if (!rtf) return exact.format(date);
      var units = [[60, "second"], [3600, "minute", 60], [86400, "hour", 3600], [2592000, "day", 86400],
        [31536000, "month", 2592000], [Infinity, "year", 31536000]];
      for (var i = 0; i < units.length; i++) {
        if (Math.abs(s) < units[i][0]) {
          return i === 0 ? rtf.format(0, "second") : rtf.format(Math.round(s / units[i][2]), units[i][1]);
        }
      }
    }
    function timeEl(iso) {
      var date = new Date(iso);
      return h("time", { datetime: iso, title: exact.format(date), text: relative(date) });
    }
    setInterval(function () {
      root.querySelectorAll("time[datetime]").forEach(function (el) { el.textContent = relative(new Date(el.getAttribute("datetime"))); });
    }, 30000);

    // --- the comment form: new comment, reply or edit
    function commentForm(opts) {
      var editing = !!opts.comment;
      var anon = !editing && !ident.reader; // a signed-in reader's name comes from their token
      var textId = id("text");
      var nameInput = h("input", { id: id("name"), name: "name", autocomplete: "name", required: true, value: store("name") || "" });
      var emailInput = h("input", { id: id("email"), name: "email", type: "email", autocomplete: "email" });
      var textarea = h("textarea", { id: textId, name: "body", rows: editing || opts.parent ? 3 : 4, required: true, "aria-describedby": textId + "-hint" });
      textarea.value = editing ? opts.comment.body || "" : opts.text || "";
      var preview = h("div", { class: "preview body", hidden: true, tabindex: "-1", "aria-live": "polite" });
      var error = h("p", { class: "error", role: "alert", hidden: true });
      var submit = h("button", { type: "submit", class: "primary", text: editing ? t("save") : opts.parent ? t("postReply") : t("post") });
      var previewButton = h("button", { "aria-pressed": "false", text: t("preview") });
      var fields = [];
      if (!editing && !opts.parent) {
        fields.push(ident.reader ? h("p", { class: "me" }, [t("signedIn"),
          h("b", { class: "author", text: ident.reader.name })].concat(tags(ident.reader.badges),
          h("button", { class: "link", text: t("signOut"), onclick: function () { CE.logout(); } })))
          : ident.identity === "both" && h("p", { class: "me" }, [signInLink()]));
      }
      if (anon) {
        fields.push(h("div", { class: "who" }, [
          h("div", { class: "field" }, [h("label", { for: nameInput.id, text: t("name") }), nameInput]),
          h("div", { class: "field" }, [h("label", { for: emailInput.id, text: t("email") }), emailInput])
        ]));
      }
      fields.push(h("div", { class: "field" }, [
        h("label", { for: textId, text: opts.parent ? t("textReply") : t("text") }), textarea, preview,
        h("p", { class: "hint", id: textId + "-hint", text: t("hint") })
      ]));
      var buttons = h("div", { class: "buttons" }, [submit, previewButton]);
      if (opts.onCancel) buttons.appendChild(h("button", { text: t("cancel"), onclick: opts.onCancel }));
      var form = h("form", { class: "form", novalidate: true }, fields.concat([error, buttons]));
      if (opts.onCancel) form.addEventListener("keydown", function (ev) { if (ev.key === "Escape") opts.onCancel(); });
      function showError(text) { error.textContent = text || ""; error.hidden = !text; }
      function showPreview(on) {
        previewButton.setAttribute("aria-pressed", String(on));
        previewButton.textContent = on ? t("write") : t("preview");
        preview.hidden = !on; textarea.hidden = on;
        if (!on) { textarea.focus(); return; }
        if (!textarea.value.trim()) { preview.textContent = t("noPreview"); return; }
        preview.textContent = "…";
        call("POST", sitePath() + "preview", { body: textarea.value }).then(function (data) {
          preview.innerHTML = data.body_html; // the service's sanitised HTML, the same renderer as posts
        }, function (e) { preview.textContent = ""; showError(describe(e, textarea.value)); showPreview(false); });
      }
      previewButton.addEventListener("click", function () { showError(""); showPreview(preview.hidden); });
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        showError("");
        if (anon && !nameInput.value.trim()) { showError(t("needName")); nameInput.focus(); return; }
        if (!textarea.value.trim()) { showError(t("needText")); if (!textarea.hidden) textarea.focus(); return; }
        submit.disabled = true;
        submit.textContent = t("sending");
        var done = function () { submit.disabled = false; submit.textContent = editing ? t("save") : opts.parent ? t("postReply") : t("post"); };
        opts.send(textarea.value, anon && nameInput.value.trim(), anon && emailInput.value.trim()).then(function () {
          done();
          if (!editing) textarea.value = "";
          if (anon) store("name", nameInput.value.trim());
          if (!preview.hidden) showPreview(false);
        }, function (e) {
          done(); // the text stays in the form whatever went wrong
          showError(describe(e, textarea.value, nameInput.value));
        });
      });
      form.focusFirst = function () { (anon && !nameInput.value ? nameInput : textarea).focus(); };
      form.showError = showError;
      return form;
    }

    // --- rendering
    function isMine(c) { return !!mine[c.id]; }
    function canChange(c) {
      var m = mine[c.id];
      return m && (m.t || token) && c.status !== "deleted" && c.status !== "rejected" && (!m.u || new Date(m.u).getTime() > Date.now());
    }
    function nameOf(c) { return c && c.status !== "deleted" ? c.author_name : null; }

    function fillMain(entry) {
      var c = entry.data, main = entry.main;
      var keep = entry.slot; // an open reply/edit form or menu survives a refresh of the comment
      main.replaceChildren();
      if (c.status === "deleted") {
        main.appendChild(h("p", { class: "tombstone", text: t("deleted") }));
        main.appendChild(keep);
        return;
      }
      var head = h("header", { class: "meta" }, [h("span", { class: "author", text: c.author_name }),
        c.author_verified && h("span", { class: "ok", role: "img", title: t("verified"), "aria-label": t("verified"), text: "✓" })
      ].concat(tags(c.author_badges)));
      if (isMine(c)) head.appendChild(h("span", { class: "you", text: "(" + t("yours") + ")" }));
      var replyingTo = entry.replyingTo || (c.reply_to && c.reply_to.author_name);
      if (replyingTo) head.appendChild(h("span", { class: "replying" }, [h("span", { "aria-hidden": "true", text: "↳ " }),
        t("replyingTo", { name: replyingTo })]));
      head.appendChild(timeEl(c.created_at));
      if (c.edited_at) head.appendChild(h("span", { class: "edited", title: exact.format(new Date(c.edited_at)), text: "(" + t("edited") + ")" }));
      if (c.status === "pending" || c.status === "held") head.appendChild(h("span", { class: "badge", text: t("waiting") }));
      if (c.status === "rejected") head.appendChild(h("span", { class: "badge bad", text: t("rejectedBadge") }));
      main.appendChild(head);
      var body = h("div", { class: "body" });
      body.innerHTML = c.body_html || ""; // sanitised by the service: the only HTML ever inserted
      main.appendChild(body);
      if (c.status !== "published") main.appendChild(h("p", { class: "note", text: t("note_" + c.status) }));
      var actions = h("div", { class: "actions" });
      if (c.status === "published" && !state.closed) actions.appendChild(h("button", { class: "link", text: t("reply"), onclick: function () { openReply(entry, this); } }));
      if (canChange(c)) {
        // The buttons go when the window closes, without a reload.
        clearTimeout(entry.timer);
        if (mine[c.id].u) entry.timer = setTimeout(function () { fillMain(entry); }, Math.min(new Date(mine[c.id].u) - Date.now() + 500, 864e5));
        actions.appendChild(h("button", { class: "link", text: t("edit"), onclick: function () { openEdit(entry, this); } }));
        actions.appendChild(h("button", { class: "link", text: t("del"), onclick: function () { confirmDelete(entry, this); } }));
      }
      if (c.status === "published" && !isMine(c)) actions.appendChild(reportMenu(entry));
      main.appendChild(actions);
      main.appendChild(keep);
    }

    // The author's badges from the host's token: text in pills.
    function tags(list) { return (list || []).map(function (b) { return h("span", { class: "tag", text: b }); }); }

    // Where the reader signs in: the site's sso_login_url, else a button; both fire login-required.
    function signInLink() {
      var url = /^https?:\/\//i.test(ident.sso_login_url) && ident.sso_login_url;
      return h(url ? "a" : "button", { class: "signin", href: url, text: t("signIn"),
        onclick: function (ev) { if (!loginRequired("sign_in")) ev.preventDefault(); } });
    }

    function render(c, depth, replyingTo) {
      var li = h("li", { class: "comment", id: "comment-" + c.id, "data-id": c.id });
      var entry = { data: c, li: li, depth: depth, replyingTo: replyingTo, slot: h("div", { class: "slot" }) };
      entry.main = h("article", { class: "main" });
      li.appendChild(entry.main);
      entries[c.id] = entry;
      fillMain(entry);
      // At the deepest indentation every later reply is listed flat, naming whom it answers.
      var flat = depth >= MAX_INDENT, pending = [];
      entry.flat = h("ul", { class: flat ? "replies flat" : "replies" });
      li.appendChild(entry.flat);
      showReplies(entry.flat, replyItems(c, flat ? depth : depth + 1, flat, pending), li, pending, flat);
      return li;
    }

    // [reply, depth, replying to, flat] for p's replies (flat: all below it, in reading order);
    // pending gets the comments whose replies the service cut, left: how many published are left.
    function replyItems(p, depth, flat, pending) {
      var items = [], cut = { c: p, cursor: p.replies_next_cursor, left: p.reply_count, depth: depth };
      if (cut.cursor) pending.push(cut);
      (p.replies || []).forEach(function (r) {
        if (r.status === "published") cut.left--;
        if (!flat) return items.push([r, depth, null]);
        items.push([Object.assign({}, r, { replies: [], replies_next_cursor: null }), depth, nameOf(p), true]);
        items = items.concat(replyItems(r, depth, true, pending));
      });
      return items;
    }

    // A long list of replies shows a few, then a button for the rest, a batch at a time (those
    // here first, then pages from the service).
    function showReplies(ul, items, li, pending, flat) {
      var shown = 0, button = null;
      function more(count) {
        var first = null;
        items.slice(shown, shown + count).forEach(function (item) {
          if (entries[item[0].id]) return; // the reader's own, shown when posted
          var el = render(item[0], item[1], item[2]);
          ul.appendChild(el);
          first = first || el;
          if (item[3]) entries[item[0].id].flat = ul; // flattened: its replies join this list too
        });
        shown = Math.min(items.length, shown + count);
        if (button) button.remove();
        button = null;
        var n = items.length - shown;
        pending.forEach(function (p) { n += Math.max(0, p.left); });
        if (shown < items.length || pending.length) {
          button = h("button", { class: "more-replies", text: n ? plural("more1", "moreN", n) : t("moreReplies"),
            onclick: function () {
              if (shown < items.length) return focusOn(more(MORE_REPLIES));
              var p = pending[0], b = this;
              b.disabled = true;
              call("GET", "comments/" + p.c.id + "/replies?limit=" + MORE_REPLIES + "&cursor=" + encodeURIComponent(p.cursor)).then(function (page) {
                pending.shift();
                items = items.concat(replyItems(Object.assign({}, p.c, { replies: page.comments, replies_next_cursor: page.next_cursor, reply_count: p.left }), p.depth, flat, pending));
                focusOn(more(MORE_REPLIES));
              }, function (e) { b.disabled = false; announce(describe(e)); });
            } });
          li.insertBefore(button, ul.nextSibling);
        }
        return first;
      }
      more(SHOW_REPLIES);
    }

    function focusOn(li) {
      if (!li) return;
      var article = li.querySelector("article");
      article.setAttribute("tabindex", "-1");
      article.focus();
    }

    function setCount(n) {
      state.count = n;
      heading.textContent = n ? t("comments") + " (" + n + ")" : t("comments");
    }

    // keepForm: a thread closed while the reader was writing keeps their text on screen.
    function setClosed(closed, keepForm) {
      var changed = closed !== state.closed;
      state.closed = closed;
      if (closed ? !keepForm : changed || !formSlot.firstChild) renderForm();
      if (changed) refill();
    }

    // The new-comment form as the thread, the site and the reader allow; the text being written stays.
    function renderForm(note) {
      var old = formSlot.querySelector("textarea");
      if (state.closed) return formSlot.replaceChildren(h("p", { class: "closed", text: t("closed") }));
      if (needSignIn()) return formSlot.replaceChildren(h("p", { class: "me" }, [note, signInLink()]));
      var form = commentForm({ send: send(null), text: old && old.value });
      formSlot.replaceChildren(form);
      form.showError(note);
    }

    function showMessage(text, retry) {
      message.replaceChildren(text || "");
      if (retry) message.appendChild(h("button", { class: "link", text: t("retry"), onclick: function () { load(); } }));
      message.hidden = !text;
    }

    function load(more) {
      var query = "?sort=" + state.sort + "&limit=" + PAGE + (more && state.cursor ? "&cursor=" + encodeURIComponent(state.cursor) : "");
      if (!more) { showMessage(t("loading")); root.setAttribute("data-state", "loading"); }
      moreButton.disabled = true;
      return Promise.all([call("GET", threadPath() + "comments" + query), who]).then(function (answers) {
        var page = answers[0];
        if (!more) { list.replaceChildren(); entries = {}; }
        page.comments.forEach(function (c) { list.appendChild(render(c, 0, null)); });
        state.cursor = page.next_cursor;
        moreButton.hidden = !state.cursor;
        moreButton.disabled = false;
        setCount(page.thread.comment_count);
        if (!more) setClosed(!!page.thread.closed);
        showMessage(list.children.length ? "" : t("empty"));
        if (!more) restoreMine();
        root.setAttribute("data-state", "ready");
        if (more && page.comments.length) focusOn(entries[page.comments[0].id].li);
      }, function (e) {
        moreButton.disabled = false;
        // A refused origin gets a 403 without CORS headers, which the browser reports as a network
        // failure; if the service answers a request that needs no CORS, that is what happened.
        var reachable = e.status === 0 ? fetch(BASE + "healthz", { mode: "no-cors", credentials: "omit" })
          .then(function () { return true; }, function () { return false; }) : Promise.resolve(false);
        return reachable.then(function (refused) {
          if (refused || e.code === "origin_not_allowed") { formSlot.replaceChildren(); showMessage(t("eOrigin")); }
          else showMessage(t("loadFailed") + " " + describe(e) + " ", true);
          root.setAttribute("data-state", "error");
        });
      });
    }

    // The reader's own comments that readers cannot see yet (waiting, after a reload) come back.
    function restoreMine() {
      Object.keys(mine).forEach(function (cid) {
        var m = mine[cid];
        if (m.s !== site || m.k !== thread || entries[cid]) return;
        call("GET", "comments/" + cid, undefined, m.t).then(function (data) {
          var c = data.comment;
          if (entries[c.id] || c.status === "published" || c.status === "deleted") return;
          insertOwn(c, entries[c.parent_id] || null);
          if (c.status === "rejected") forget(c.id); else poll(c.id);
        }, function (e) {
          if (e.status === 403 || e.status === 404) forget(cid);
        });
      });
    }

    function insertOwn(c, parentEntry) {
      var li;
      if (!parentEntry) {
        li = render(c, 0, null);
        if (state.sort === "oldest" && !state.cursor) list.appendChild(li); else list.insertBefore(li, list.firstChild);
      } else {
        var deep = parentEntry.depth >= MAX_INDENT;
        li = render(c, deep ? MAX_INDENT : parentEntry.depth + 1, deep ? nameOf(parentEntry.data) : null);
        parentEntry.flat.appendChild(li);
        if (deep) entries[c.id].flat = parentEntry.flat;
      }
      showMessage("");
      return li;
    }

    // --- actions
    function forget(cid) { delete mine[cid]; store("mine", mine); }

    function remember(posted) {
      var c = posted.comment;
      mine[c.id] = { t: posted.edit_token, u: c.editable_until, s: site, k: thread, a: Date.now(), r: token && 1 };
      store("mine", mine);
    }

    function send(parentEntry) {
      return function (text, name, email) {
        var body = { body: text, thread_title: title.slice(0, 500) };
        if (name) body.author_name = name;
        if (/^https?:\/\//.test(pageUrl)) body.thread_url = pageUrl.slice(0, 2000);
        if (email) body.author_email = email;
        if (parentEntry) body.parent_id = parentEntry.data.id;
        return act("POST", threadPath() + "comments", body).catch(function (e) {
          // The page's title or address is only a hint for the thread: a bad one must not cost the comment.
          var fields = Object.keys(e.fields || {});
          if (e.status !== 422 || !fields.length || fields.some(function (f) { return f.indexOf("thread_") !== 0; })) throw e;
          delete body.thread_title; delete body.thread_url;
          return act("POST", threadPath() + "comments", body);
        }).then(function (posted) {
          remember(posted);
          var c = posted.comment;
          if (parentEntry) closeSlot(parentEntry);
          var li = insertOwn(c, parentEntry);
          li.querySelector("article").setAttribute("tabindex", "-1");
          if (parentEntry) focusOn(li); // the reply form is gone: keyboard focus goes to the new reply
          if (posted.httpStatus === 201) { setCount(state.count + 1); announce(t("published")); }
          else { announce(t("note_" + c.status) || t("waiting")); poll(c.id); }
          li.scrollIntoView({ block: "nearest" });
        });
      };
    }

    function closeSlot(entry) { entry.slot.replaceChildren(); }

    // Cancel (or Escape) closes the form and gives focus back to the button that opened it.
    function cancel(entry, trigger) {
      return function () {
        closeSlot(entry);
        if (trigger && trigger.isConnected) trigger.focus(); else focusOn(entry.li);
      };
    }

    function openReply(entry, trigger) {
      if (needSignIn()) return loginRequired("reply");
      var form = commentForm({ parent: entry.data, send: send(entry), onCancel: cancel(entry, trigger) });
      entry.slot.replaceChildren(form);
      form.focusFirst();
    }

    function update(c) {
      var entry = entries[c.id];
      if (!entry) return;
      var wasPublished = entry.data.status === "published";
      c.replies = entry.data.replies;
      entry.data = c;
      fillMain(entry);
      if (!wasPublished && c.status === "published") setCount(state.count + 1);
      if (wasPublished && c.status !== "published") setCount(Math.max(0, state.count - 1));
    }

    function openEdit(entry, trigger) {
      var form = commentForm({
        comment: entry.data,
        onCancel: cancel(entry, trigger),
        send: function (text) {
          return act("PATCH", "comments/" + entry.data.id, { body: text }, mine[entry.data.id].t).then(function (data) {
            closeSlot(entry);
            update(data.comment);
            if (data.comment.status === "published") announce(t("savedOk"));
            else { announce(t("note_" + data.comment.status)); poll(data.comment.id); }
          }, function (e) {
            if (e.code === "edit_window_closed" || (e.code || "").indexOf("edit_token") === 0) {
              mine[entry.data.id].u = new Date(0).toISOString(); store("mine", mine);
            }
            throw e;
          });
        }
      });
      entry.slot.replaceChildren(form);
      form.focusFirst();
    }

    function confirmDelete(entry, button) {
      var error = h("p", { class: "error", role: "alert", hidden: true });
      var yes = h("button", { class: "danger", text: t("yesDelete"), onclick: function () {
        yes.disabled = true;
        act("DELETE", "comments/" + entry.data.id, undefined, mine[entry.data.id].t).then(function () {
          var wasPublished = entry.data.status === "published";
          forget(entry.data.id);
          if (wasPublished) setCount(Math.max(0, state.count - 1));
          if (entry.flat && entry.flat.children.length && entry.depth < MAX_INDENT || hasFlatReplies(entry)) {
            entry.data = Object.assign({}, entry.data, { status: "deleted", body: null, body_html: null, author_name: null });
            closeSlot(entry); fillMain(entry);
          } else {
            entry.li.remove(); delete entries[entry.data.id];
            if (!list.children.length) showMessage(t("empty"));
          }
          announce(t("deletedOk"));
        }, function (e) { yes.disabled = false; error.textContent = describe(e); error.hidden = false; });
      } });
      var no = h("button", { text: t("no"), onclick: function () { closeSlot(entry); button.focus(); } });
      entry.slot.replaceChildren(h("div", { class: "confirm", role: "group", "aria-label": t("reallyDelete") }, [
        h("p", { text: t("reallyDelete") }), yes, no, error]));
      no.focus();
    }

    function hasFlatReplies(entry) {
      var id = entry.data.id;
      return Object.keys(entries).some(function (k) {
        var d = entries[k].data;
        return d.parent_id === id || (d.reply_to && d.reply_to.id === id);
      });
    }

    // The report menu: a menu button; arrow keys move, Escape closes and returns focus.
    function reportMenu(entry) {
      var wrap = h("span", { class: "menu-wrap" });
      var menuId = id("menu");
      var button = h("button", { class: "link", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": menuId, text: t("report") },
        [h("span", { "aria-hidden": "true", text: " ▾" })]); // the arrow is decoration, not part of the name
      var menu = h("div", { class: "menu", role: "menu", id: menuId, hidden: true, "aria-label": t("reportWhy") });
      menu.appendChild(h("p", { class: "menu-title", "aria-hidden": "true", text: t("reportWhy") }));
      var items = REASONS.map(function (reason) {
        return h("button", { role: "menuitem", tabindex: "-1", "data-reason": reason, text: t(reason), onclick: function () { sendReport(reason); } });
      });
      items.forEach(function (item) { menu.appendChild(item); });
      function open(focusIndex) {
        if (needSignIn()) return loginRequired("report");
        menu.hidden = false; button.setAttribute("aria-expanded", "true");
        items[focusIndex || 0].focus();
        document.addEventListener("click", outside, true);
      }
      function close(refocus) {
        menu.hidden = true; button.setAttribute("aria-expanded", "false");
        document.removeEventListener("click", outside, true);
        if (refocus) button.focus();
      }
      function outside(ev) { if (ev.composedPath().indexOf(wrap) < 0) close(false); }
      function sendReport(reason) {
        close(true);
        button.disabled = true;
        act("POST", "comments/" + entry.data.id + "/reports", { reason: reason }).then(function () {
          button.textContent = t("reported");
          button.removeAttribute("aria-haspopup");
          announce(t("reportThanks"));
        }, function (e) { button.disabled = false; announce(describe(e)); });
      }
      button.addEventListener("click", function () { if (menu.hidden) open(0); else close(true); });
      button.addEventListener("keydown", function (ev) {
        if (ev.key === "ArrowDown" || ev.key === "ArrowUp") { ev.preventDefault(); open(ev.key === "ArrowUp" ? items.length - 1 : 0); }
      });
      menu.addEventListener("keydown", function (ev) {
        var i = items.indexOf(shadow.activeElement);
        if (ev.key === "ArrowDown") { ev.preventDefault(); items[(i + 1) % items.length].focus(); }
        else if (ev.key === "ArrowUp") { ev.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
        else if (ev.key === "Home") { ev.preventDefault(); items[0].focus(); }
        else if (ev.key === "End") { ev.preventDefault(); items[items.length - 1].focus(); }
        else if (ev.key === "Escape") { ev.preventDefault(); close(true); }
        else if (ev.key === "Tab") close(false);
      });
      wrap.appendChild(button);
      wrap.appendChild(menu);
      return wrap;
    }

    // After posting: ask for the comment with its edit token, less and less often, until decided.
    function poll(cid) {
      var started = Date.now(), delay = POLL_FIRST;
      function again() {
        if (!mine[cid] || !entries[cid] || Date.now() - started > POLL_FOR) return;
        call("GET", "comments/" + cid, undefined, mine[cid].t).then(function (data) {
          var c = data.comment, before = entries[cid] && entries[cid].data.status;
          if (c.status !== before) {
            update(c);
            if (c.status === "published") announce(t("nowPublished"));
            else if (c.status === "rejected") announce(t("note_rejected"));
          }
          if (c.status === "pending" || c.status === "held") schedule();
        }, function (e) { if (e.status !== 403 && e.status !== 404) schedule(); });
      }
      function schedule() { setTimeout(again, delay); delay = Math.min(POLL_MAX, delay * 1.6); }
      schedule();
    }

    if (!site || !thread) { showMessage("data-site and data-thread are required."); root.hidden = false; return; }
    CE.widgets.push({ login: login, logout: logout });
    var who = identify();
    load();
  }

  function start() {
    var hosts = document.querySelectorAll("#comments[data-site], [data-comments-embed]");
    for (var i = 0; i < hosts.length; i++) {
      if (!hosts[i].__comments) { hosts[i].__comments = true; Widget(hosts[i]); }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
