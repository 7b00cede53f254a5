return {cancel = {disabled = false}}
