/* Comment counts for a listing page, in one request:
 * <a href="/article-1#comments" data-comments-count="article-1"></a>
 * <script src="https://comments.example/widget/count.js" data-site="SLUG" async></script>
 * Each link's text becomes "3 comments" (data-comments-lang or the page's language; a link may
 * carry data-comments-site to override the script's). Only textContent is ever written. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="/widget/count.js"]');
  if (!script) return;
  var API = new URL("..", script.src).href + "api/v1/";
  var MAX_KEYS = 100; // the API's limit per request
  var WORDS = {
    en: ["No comments", "1 comment", " comments"],
    fr: ["Aucun commentaire", "1 commentaire", " commentaires"],
    de: ["Keine Kommentare", "1 Kommentar", " Kommentare"]
  };

  function words(link) {
    var lang = (link.getAttribute("data-comments-lang") || document.documentElement.lang || navigator.language || "en");
    return WORDS[lang.toLowerCase().split("-")[0]] || WORDS.en;
  }

  function label(link, n) {
    var w = words(link);
    return n === 0 ? w[0] : n === 1 ? w[1] : n.toLocaleString() + w[2];
  }

  function fill() {
    var links = document.querySelectorAll("[data-comments-count]");
    var bySite = {};
    for (var i = 0; i < links.length; i++) {
      var site = links[i].getAttribute("data-comments-site") || script.getAttribute("data-site");
      var key = links[i].getAttribute("data-comments-count");
      if (!site || !key || key.indexOf(",") >= 0) continue; // a comma would split the key list
      (bySite[site] = bySite[site] || { keys: [], links: [] }).links.push(links[i]);
      if (bySite[site].keys.indexOf(key) < 0) bySite[site].keys.push(key);
    }
    Object.keys(bySite).forEach(function (site) {
      var group = bySite[site];
      for (var start = 0; start < group.keys.length; start += MAX_KEYS) {
        var keys = group.keys.slice(start, start + MAX_KEYS);
        var url = API + "sites/" + encodeURIComponent(site) + "/counts?keys=" + keys.map(encodeURIComponent).join(",");
        fetch(url, { credentials: "omit", mode: "cors" }).then(function (r) {
          return r.ok ? r.json() : null;
        }).then(function (data) {
          if (!data) return;
          group.links.forEach(function (link) {
            var n = data.counts[link.getAttribute("data-comments-count")];
            if (typeof n === "number") { link.textContent = label(link, n); link.setAttribute("data-comments-filled", String(n)); }
          });
        }, function () { /* counts are decoration: a failure leaves the links as they were */ });
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fill);
  else fill();
})();
