-- Argo CD health of a prefect.io ClusterIdentity, from its Ready condition.
-- Healthy: Ready True (the UID is assigned and published). Degraded: Ready False, with the
-- condition's message (for example the namespaces a publish could not reach; the UID in status
-- stays in use). Progressing: no Ready condition yet, or Ready Unknown.
local hs = {}
if obj.status ~= nil and obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      local text = condition.message
      if text == nil or text == "" then
        text = condition.reason or ""
      elseif condition.reason ~= nil and condition.reason ~= "" then
        text = condition.reason .. ": " .. text
      end
      if condition.status == "True" then
        hs.status = "Healthy"
        if obj.status.uid ~= nil and obj.status.uid ~= "" then
          hs.message = "Cluster identity " .. obj.status.uid
          if obj.status.source ~= nil and obj.status.source ~= "" then
            hs.message = hs.message .. " (" .. obj.status.source .. ")"
          end
        else
          hs.message = text
        end
      elseif condition.status == "False" then
        hs.status = "Degraded"
        hs.message = text
      else
        hs.status = "Progressing"
        hs.message = text
      end
      return hs
    end
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the flowrun-operator to assign the cluster identity"
return hs
