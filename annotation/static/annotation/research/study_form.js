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
    return Array.from(list.querySelectorAll("[data-dimension]"));
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

  addButton.addEventListener("click", function () {
    const index = Number(totalInput.value);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const row = holder.firstElementChild;
    row.querySelector("input[name$=-ORDER]").closest(".order").hidden = true;
    list.appendChild(row);
    totalInput.value = String(index + 1);
    wire(row);
    renumber();
    row.querySelector("input[name$=-key]").focus();
  });

  renumber();
})();
