//! The page's script: details on click and the case filter.

/// Details on click, the case filter. Text from results only ever goes in as `textContent`.
pub(super) const SCRIPT: &str = r#"
(function(){
var data=JSON.parse(document.getElementById('data').textContent);
var panel=document.getElementById('details'),kv=document.getElementById('d-kv'),sel=null;
function row(k,v){if(v===undefined||v===null||v==='')return;var tr=document.createElement('tr');
var a=document.createElement('td');a.textContent=k;var b=document.createElement('td');
var p=document.createElement('pre');p.textContent=String(v);b.appendChild(p);tr.appendChild(a);tr.appendChild(b);kv.appendChild(tr);}
function show(el){var d=data[+el.dataset.k];if(!d)return;
if(sel)sel.classList.remove('selected');sel=el;el.classList.add('selected');
document.getElementById('d-title').textContent=d.board+' · '+d.case;kv.textContent='';
row('outcome',d.outcome);row('baseline',d.verdict);row('duration',d.duration_s.toFixed(3)+' s');
row('message',d.message);row('implementation',d.implementation);
(d.observations||[]).forEach(function(o){row(o.key,o.value);});
(d.earlier||[]).forEach(function(e,i){row('attempt '+(i+1),e.outcome+(e.message?': '+e.message:''));});
panel.hidden=false;}
document.addEventListener('click',function(ev){var el=ev.target.closest('[data-k]');if(el)show(el);});
document.getElementById('d-close').addEventListener('click',function(){panel.hidden=true;if(sel)sel.classList.remove('selected');});
var f=document.getElementById('filter'),np=document.getElementById('not-pass');
function filter(){var q=f.value.toLowerCase(),only=np.checked;
document.querySelectorAll('#cases-table tr[data-name]').forEach(function(tr){
var hide=(q&&tr.dataset.name.toLowerCase().indexOf(q)<0)||(only&&tr.dataset.pass==='true');tr.hidden=hide;});}
f.addEventListener('input',filter);np.addEventListener('change',filter);
// report.html#case=NAME opens that case's details (a link to one result).
var m=/^#case=(.+)$/.exec(location.hash);if(m){var want=decodeURIComponent(m[1]);
var el=Array.prototype.find.call(document.querySelectorAll('[data-k]'),function(e){return data[+e.dataset.k].case===want;});
if(el){show(el);el.scrollIntoView();}}
})();
"#;
