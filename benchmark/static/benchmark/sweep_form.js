// Records in the hidden "chosen" field every field the admin edits, so that under a
// published protocol a value they set counts as given even when it is the library's
// default (a field left untouched takes the protocol's value).
(function () {
  "use strict";
  var form = document.getElementById("sweep-form");
  if (!form) return;
  var chosen = form.elements.namedItem("chosen");
  if (!chosen) return;
  var names = chosen.value ? chosen.value.split(",") : [];

  function record(event) {
    var name = event.target && event.target.name;
    if (!name || name === "chosen" || name === "csrfmiddlewaretoken") return;
    if (names.indexOf(name) === -1) {
      names.push(name);
      chosen.value = names.join(",");
    }
  }

  form.addEventListener("input", record);
  form.addEventListener("change", record);
})();
