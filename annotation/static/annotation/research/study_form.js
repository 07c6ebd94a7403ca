// Study form: add, remove and reorder dimensions in place. The position (ORDER) fields
// are what the server reads, so without this script typing positions still works.
(function () {
  "use strict";

  const list = document.getElementById("dimension-list");
  const template = document.getElementById("dimension-template");
  const addButton = document.getElementById("add-dimension");
  if (!list || !template || !addButton) return;
  const totalInput = document.querySelector("input[name=dim-TOTAL_FORMS]");

  function rows() {
    return Array.from(list.querySelectorAll("[data-dimension]:not(.replaced)"));
  }

  function renumber() {
    let position = 0;
    for (const row of rows()) {
      const removed = row.querySelector("input[name$=-DELETE]").checked;
      row.classList.toggle("removed", removed);
      const order = row.querySelector("input[name$=-ORDER]");
      if (removed) {
        row.querySelector("[data-number]").textContent = "(removed)";
        continue;
      }
      position += 1;
      order.value = String(position);
      row.querySelector("[data-number]").textContent = String(position);
    }
  }

  function move(row, step) {
    const all = rows();
    const index = all.indexOf(row);
    const target = all[index + step];
    if (!target) return;
    if (step < 0) list.insertBefore(row, target);
    else list.insertBefore(target, row);
    renumber();
  }

  function wire(row) {
    for (const button of row.querySelectorAll("[data-move]")) {
      button.addEventListener("click", function () {
        move(row, Number(button.dataset.move));
      });
    }
    row.querySelector("input[name$=-DELETE]").addEventListener("change", renumber);
  }

  // The rows keep their form index (their field names); only ORDER says where they go.
  for (const row of rows()) {
    row.querySelector("input[name$=-ORDER]").closest(".order").hidden = true;
    wire(row);
  }

  function addRow() {
    const index = Number(totalInput.value);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const row = holder.firstElementChild;
    row.querySelector("input[name$=-ORDER]").closest(".order").hidden = true;
    list.appendChild(row);
    totalInput.value = String(index + 1);
    wire(row);
    return row;
  }

  addButton.addEventListener("click", function () {
    const row = addRow();
    renumber();
    row.querySelector("input[name$=-key]").focus();
  });

  // Presets: the current rows are removed (and hidden), the preset's rows added, so the
  // rest of the form keeps what was typed. The links reload the page without script.
  const presets = JSON.parse(document.getElementById("dimension-presets").textContent);
  for (const link of document.querySelectorAll("a[data-preset]")) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      for (const row of rows()) {
        row.querySelector("input[name$=-DELETE]").checked = true;
        row.classList.add("replaced");
      }
      for (const values of presets[link.dataset.preset]) {
        const row = addRow();
        for (const name of Object.keys(values)) {
          row.querySelector("[name$=-" + name + "]").value = values[name];
        }
      }
      for (const other of document.querySelectorAll(".presets a")) {
        other.classList.toggle("current", other === link);
      }
      renumber();
    });
  }

  renumber();
})();
